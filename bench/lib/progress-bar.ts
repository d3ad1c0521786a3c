// vdsm-bench's progress on stderr. On a terminal: one bar line redrawn in place (overall share of the
// planned work, the current suite and step, elapsed time and an estimate), with the suites' own log
// lines printed above it. Elsewhere (CI, a pipe, ssh without a tty): one plain line per step.

export interface PlannedSuite {
  name: string;
  /** Relative size (expected seconds). */
  weight: number;
}

export class ProgressDisplay {
  #out: NodeJS.WriteStream;
  #tty: boolean;
  #plan: PlannedSuite[];
  #total: number;
  #doneWeight = 0;
  #current: { name: string; fraction: number; label: string } | undefined;
  #t0 = Date.now();
  #drawn = false;
  #width: number;

  constructor(out: NodeJS.WriteStream, plan: PlannedSuite[], opts: { tty?: boolean } = {}) {
    this.#out = out;
    this.#tty = opts.tty ?? out.isTTY === true;
    this.#plan = plan;
    this.#total = plan.reduce((a, p) => a + p.weight, 0) || 1;
    this.#width = Math.max(40, Math.min(120, out.columns ?? 100));
  }

  /** Overall fraction done, 0..1. */
  get fraction(): number {
    const cur = this.#current ? (this.#plan.find((p) => p.name === this.#current!.name)?.weight ?? 0) * this.#current.fraction : 0;
    return Math.min(1, (this.#doneWeight + cur) / this.#total);
  }

  /** A line from a suite (or vdsm-bench itself), printed above the bar. */
  log(line: string): void {
    this.#clear();
    this.#out.write(`${line}\n`);
    this.#draw();
  }

  suiteStarted(name: string): void {
    this.#current = { name, fraction: 0, label: 'starting' };
    if (!this.#tty) this.#line();
    this.#draw();
  }

  step(name: string, done: number, total: number, label: string): void {
    if (!this.#current || this.#current.name !== name) this.#current = { name, fraction: 0, label };
    this.#current.fraction = total > 0 ? Math.min(1, done / total) : 0;
    this.#current.label = `(${done}/${total}) ${label}`;
    if (this.#tty) this.#draw();
    else this.#line();
  }

  suiteEnded(name: string, status: string, seconds: number): void {
    this.#doneWeight += this.#plan.find((p) => p.name === name)?.weight ?? 0;
    this.#current = undefined;
    this.log(`vdsm-bench: ${name} ${status} in ${seconds.toFixed(1)} s`);
  }

  finish(): void {
    this.#clear();
  }

  #status(): string {
    const pct = Math.round(this.fraction * 100);
    const elapsed = (Date.now() - this.#t0) / 1000;
    const eta = this.fraction > 0.05 ? Math.max(0, elapsed / this.fraction - elapsed) : undefined;
    const time = `${fmtTime(elapsed)}${eta !== undefined ? ` ~${fmtTime(eta)} left` : ''}`;
    return `${String(pct).padStart(3)}% ${time} ${this.#current ? `${this.#current.name} ${this.#current.label}` : ''}`.trimEnd();
  }

  #line(): void {
    this.#out.write(`vdsm-bench [${this.#status()}]\n`);
  }

  #draw(): void {
    if (!this.#tty) return;
    const status = this.#status();
    const barW = Math.max(10, Math.min(30, this.#width - status.length - 4));
    const filled = Math.round(this.fraction * barW);
    const text = `[${'#'.repeat(filled)}${'-'.repeat(barW - filled)}] ${status}`;
    this.#out.write(`\r\x1b[K${text.slice(0, this.#width - 1)}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (this.#tty && this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }
}

function fmtTime(s: number): string {
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}
