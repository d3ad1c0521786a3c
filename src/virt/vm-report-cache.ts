// Host.getAllVmStats served from reports serialised once per change. A VM's stats object changes when a
// new sample arrives (the stats cache's records), when its status, pause code or exit changes, or when
// its domain, pid or guest info is replaced; between those, every read (the engine polls every 15 s,
// monitoring tools more often) would rebuild and re-serialise the same object. Here each VM keeps the
// JSON text of its report with holes for the fields that change with every read (statusTime,
// elapsedTime, monitorResponse, the NICs' sampleTime: vm-report.ts `reportTimes`), and a read fills the
// holes.
//
// Two kinds of inputs (issue 17: rebuilds off the read path):
// - the VM's state (status, pause code, exit info, start time; monitorable follows the status) and its
//   guest agents' merged view are checked on every read: a text built for another state or guest view
//   is never served, the read rebuilds it. A VM that went Down or Paused is never reported with its
//   previous status, and guest data (which arrives unannounced, and ages with time) shows at once, as
//   VM.getStats shows it.
// - everything else (the sample's records, domain, pid, vCPU tune, drive sizes, addresses) is brought
//   up to date by refresh(), which the VM manager runs in the background after a new sample or a change
//   (services/report-refresher.ts). Until refresh() reaches a VM, a read serves the VM's last built text
//   whole: the previous sample's values, never a mix of two samples inside one VM's object, with the
//   read-time holes filled from the clock of the read.
// Once refresh() has run for a VM with no change since, its text equals
// JSON.stringify(buildVmStatsReport(input)) at the time of the read, byte for byte.
//
// Inputs are compared with ===: records, domain and guest objects are replaced, never modified.
import { JsonTemplate, sameInputs, slotMarker } from '../runtime/json-template.js';
import type { JsonPieces } from '../runtime/raw-json.js';
import { buildVmStatsReport, reportTimes, type ReportTimes, type VmReportInput } from './vm-report.js';
import type { ExitInfo } from './exit-reasons.js';

/** The state a text was built in: a VmStateMachine or its snapshot. */
export interface StateKey {
  readonly status: string;
  readonly pauseCode?: string | undefined;
  readonly exitInfo?: ExitInfo | undefined;
  readonly startedAt: number;
}

/** Slot numbers of the fields filled at read time. */
const SLOT = { statusTime: 0, elapsedTime: 1, monitorResponse: 2, sampleTime: 3 } as const;

export interface VmReportCacheState {
  builds: number;
  reads: number;
}

/** What the report was built from, except the state (compared on every read); any change by === means a rebuild. */
function backgroundInputsOf(input: VmReportInput): unknown[] {
  const { sample } = input;
  // The samples a VM's records come from, not the records: reading those would decode them (stats-cache.ts).
  const from = sample?.from;
  return [
    input.domain, from !== undefined ? from.first : sample?.first, from !== undefined ? from.last : sample?.last, sample?.interval,
    input.guest, input.pid, input.vcpuTune, input.displayIp, input.clientIp, input.subject, input.vmCommandTimeoutS,
  ];
}

function stateKey(s: StateKey): StateKey {
  return { status: s.status, pauseCode: s.pauseCode, exitInfo: s.exitInfo, startedAt: s.startedAt };
}

/** Whether a text built in state `a` may be served in state `b` (monitorable follows the status). */
function sameState(a: StateKey, b: StateKey): boolean {
  return a.status === b.status && a.pauseCode === b.pauseCode && a.exitInfo === b.exitInfo && a.startedAt === b.startedAt;
}

/** Put slot markers where the read-time fields are; returns how many were put. */
function markVolatile(report: Record<string, unknown>): number {
  let holes = 0;
  const mark = (obj: Record<string, unknown>, key: string, slot: number): void => {
    if (typeof obj[key] !== 'string') return;
    obj[key] = slotMarker(slot);
    holes++;
  };
  mark(report, 'statusTime', SLOT.statusTime);
  mark(report, 'elapsedTime', SLOT.elapsedTime);
  mark(report, 'monitorResponse', SLOT.monitorResponse);
  const network = report['network'];
  if (typeof network === 'object' && network !== null) {
    for (const nic of Object.values(network as Record<string, unknown>)) {
      if (typeof nic === 'object' && nic !== null) mark(nic as Record<string, unknown>, 'sampleTime', SLOT.sampleTime);
    }
  }
  return holes;
}

/** The hole values of a read, as JSON texts in slot order. */
export function slotValues(t: Pick<ReportTimes, 'statusTime' | 'elapsedTime' | 'monitorResponse' | 'sampleTime'>): string[] {
  return [`"${t.statusTime}"`, `"${t.elapsedTime}"`, `"${t.monitorResponse}"`, `"${t.sampleTime}"`];
}

interface Entry {
  state: StateKey;
  guest: unknown;
  /**
   * The state and guest view the text was built in, as one token: the same object across rebuilds that
   * keep both (a new sample, domain, pid), a new one when either changed. A text built with the same
   * token may be served in place of the newest one until the background refresh has gone round (a kept
   * whole reply, whole-reply.ts); one with another token never.
   */
  view: object;
  inputs: unknown[];
  /** undefined when the report could not be cut into a template: such a VM is serialised on each read. */
  template: JsonTemplate | undefined;
}

export class VmReportCache {
  /** Keyed by the VM's own object: an entry goes when its VM does. */
  readonly #entries = new WeakMap<object, Entry>();
  #builds = 0;
  #reads = 0;
  /** Entries set or dropped so far: while it stays, usable() of every VM gives what it gave (for the same state and guest). */
  #changes = 0;
  /** View tokens made or dropped so far: while it stays, viewOf() of every VM gives what it gave (for the same state and guest). */
  #views = 0;

  get changes(): number {
    return this.#changes;
  }

  get views(): number {
    return this.#views;
  }

  /**
   * The token of the state and guest view the VM's last text was built in, if that is its current
   * `state` and `guest` and the text is a template (usable()'s conditions, whatever sample the text
   * holds), else undefined.
   */
  viewOf(owner: object, state: StateKey, guest: VmReportInput['guest']): object | undefined {
    const entry = this.#entries.get(owner);
    if (entry === undefined || entry.template === undefined || entry.guest !== guest || !sameState(entry.state, state)) return undefined;
    return entry.view;
  }

  /**
   * The read: the VM's last built text, holes filled with `values` (slotValues of the read's times), if
   * it was built in the VM's current `state` with its current `guest` view. false when there is none
   * (never built, built in another state or guest view, or not cut into a template): then buildInto().
   */
  readInto(owner: object, state: StateKey, guest: VmReportInput['guest'], values: readonly string[], into: JsonPieces): boolean {
    const template = this.usable(owner, state, guest);
    if (template === undefined) return false;
    this.#reads++;
    template.fillInto(values, into);
    return true;
  }

  /**
   * The template a read would fill for the VM now (readInto's conditions: built in this state with this
   * guest view), else undefined. The same template object means the same text around the holes: what a
   * kept whole reply (services/whole-reply.ts) compares.
   */
  usable(owner: object, state: StateKey, guest: VmReportInput['guest']): JsonTemplate | undefined {
    const entry = this.#entries.get(owner);
    if (entry === undefined || entry.guest !== guest || !sameState(entry.state, state)) return undefined;
    return entry.template;
  }

  /** Build the VM's text now (readInto said there is none usable) and append it with the read's fields. */
  buildInto(owner: object, input: VmReportInput, into: JsonPieces): void {
    this.#reads++;
    const template = this.#build(owner, input);
    if (template === undefined) into.text(JSON.stringify(buildVmStatsReport(input)));
    else template.fillInto(slotValues(reportTimes(input)), into);
  }

  /**
   * The text of the VM's report now, built from `input` if anything it is made of changed: what a read
   * gives once refresh() has run. For single reads and tests; getAllVmStats uses readInto/buildInto.
   */
  json(owner: object, input: VmReportInput): string {
    this.#reads++;
    const template = this.refresh(owner, input) ?? this.#entries.get(owner)?.template;
    if (template === undefined) return JSON.stringify(buildVmStatsReport(input));
    return template.fill(slotValues(reportTimes(input)));
  }

  /**
   * Rebuild the VM's text if any input changed since it was built (the background refresh after a new
   * sample or a change); returns the new template when it built one, else undefined.
   */
  refresh(owner: object, input: VmReportInput): JsonTemplate | undefined {
    return this.isCurrent(owner, input) ? undefined : this.#build(owner, input);
  }

  #build(owner: object, input: VmReportInput): JsonTemplate | undefined {
    this.#builds++;
    this.#changes++;
    const report = buildVmStatsReport(input) as Record<string, unknown>;
    const template = JsonTemplate.bytesOf(report, markVolatile(report));
    const previous = this.#entries.get(owner);
    // A text that could not be cut into a template has no view worth keeping: a new token either side of it.
    const sameView = previous !== undefined && previous.template !== undefined && template !== undefined &&
      previous.guest === input.guest && sameState(previous.state, input.state);
    if (!sameView) this.#views++;
    const view = sameView ? previous.view : {};
    this.#entries.set(owner, { state: stateKey(input.state), guest: input.guest, view, inputs: backgroundInputsOf(input), template });
    return template;
  }

  /** Whether the VM's text was built from these inputs (false: a read serves the previous ones until refresh()). */
  isCurrent(owner: object, input: VmReportInput): boolean {
    const entry = this.#entries.get(owner);
    return entry !== undefined && sameState(entry.state, input.state) && sameInputs(entry.inputs, backgroundInputsOf(input));
  }

  /** Drop a VM's entry (its next read rebuilds it), for a change the inputs do not show. */
  invalidate(owner: object): void {
    this.#changes++;
    this.#views++;
    this.#entries.delete(owner);
  }

  describe(): VmReportCacheState {
    return { builds: this.#builds, reads: this.#reads };
  }
}
