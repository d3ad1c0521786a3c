// Drives a background walk (services/report-refresher.ts) slice by slice: its yieldToLoop waits here
// until the test lets one more slice run.
import assert from 'node:assert/strict';

/** What the gate watches to know a slice ran: the walk's running flag. */
export interface WalkView {
  describeReports(): { refresh: { running: boolean } };
}

export class SliceGate {
  #waiting: (() => void)[] = [];
  yields = 0;
  readonly yieldToLoop = (): Promise<void> => {
    this.yields++;
    return new Promise((resolve) => this.#waiting.push(resolve));
  };

  /** Let the walk run its next slice; resolves once that slice ran and the walk waits again (or ended). */
  async step(vms: WalkView): Promise<void> {
    const next = this.#waiting.shift();
    assert.ok(next, 'the walk is waiting at a yield');
    const before = this.yields;
    next();
    while (this.yields === before && vms.describeReports().refresh.running) await new Promise((r) => setImmediate(r));
  }

  /** Let the walk run until it ended. */
  async toEnd(vms: WalkView): Promise<void> {
    while (vms.describeReports().refresh.running) await this.step(vms);
  }
}
