// Host.getAllVmStats served from reports serialised once per change. A VM's stats object changes when a
// new sample arrives (the stats cache's records), when its status, pause code or exit changes, or when
// its domain, pid or guest info is replaced; between those, every read (the engine polls every 15 s,
// monitoring tools more often) would rebuild and re-serialise the same object. Here each VM keeps the
// JSON text of its report with holes for the fields that change with every read (statusTime,
// elapsedTime, monitorResponse, the NICs' sampleTime: vm-report.ts `reportTimes`), and a read fills the
// holes: the text equals JSON.stringify(buildVmStatsReport(input)) at the time of the read.
//
// The entry is rebuilt when any input it was built from is no longer the same value (compared with ===:
// records, domain and guest objects are replaced, never modified, when they change).
import { CachedTemplate, slotMarker, type JsonTemplate } from '../runtime/json-template.js';
import type { JsonPieces } from '../runtime/raw-json.js';
import { buildVmStatsReport, reportTimes, type ReportTimes, type VmReportInput } from './vm-report.js';

/** Slot numbers of the fields filled at read time. */
const SLOT = { statusTime: 0, elapsedTime: 1, monitorResponse: 2, sampleTime: 3 } as const;

export interface VmReportCacheState {
  builds: number;
  reads: number;
}

/** What the report was built from; any change (by ===) means a rebuild. */
function inputsOf(input: VmReportInput): unknown[] {
  const { state, sample } = input;
  return [
    state.status, state.pauseCode, state.exitInfo, state.startedAt,
    input.domain, sample?.first, sample?.last, sample?.interval,
    input.guest, input.pid, input.displayIp, input.clientIp, input.monitorable, input.subject, input.vmCommandTimeoutS,
  ];
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

function slotValues(t: ReportTimes): string[] {
  return [JSON.stringify(t.statusTime), JSON.stringify(t.elapsedTime), JSON.stringify(t.monitorResponse), JSON.stringify(t.sampleTime)];
}

export class VmReportCache {
  /** Keyed by the VM's own object: an entry goes when its VM does. */
  readonly #entries = new WeakMap<object, CachedTemplate>();
  #builds = 0;
  #reads = 0;

  /** The JSON text of the VM's stats object now; `owner` is the VM's object (one entry per owner). */
  json(owner: object, input: VmReportInput): string {
    this.#reads++;
    const template = this.#template(owner, input);
    if (template === undefined) return JSON.stringify(buildVmStatsReport(input));
    return template.fill(slotValues(reportTimes(input)));
  }

  /** The same text as json(), appended to `into` as pieces (the report's bytes are encoded once per change). */
  jsonInto(owner: object, input: VmReportInput, into: JsonPieces): void {
    this.#reads++;
    const template = this.#template(owner, input);
    if (template === undefined) into.text(JSON.stringify(buildVmStatsReport(input)));
    else template.fillInto(slotValues(reportTimes(input)), into);
  }

  /** Rebuild the VM's text now if its inputs changed (after a new sample), so that reads find it built. */
  refresh(owner: object, input: VmReportInput): void {
    this.#template(owner, input);
  }

  #template(owner: object, input: VmReportInput): JsonTemplate | undefined {
    let entry = this.#entries.get(owner);
    if (entry === undefined) this.#entries.set(owner, (entry = new CachedTemplate()));
    return entry.get(inputsOf(input), () => {
      this.#builds++;
      const report = buildVmStatsReport(input) as Record<string, unknown>;
      return { value: report, holes: markVolatile(report) };
    });
  }

  /** Drop a VM's entry (its next read rebuilds it), for a change the inputs do not show. */
  invalidate(owner: object): void {
    this.#entries.delete(owner);
  }

  describe(): VmReportCacheState {
    return { builds: this.#builds, reads: this.#reads };
  }
}
