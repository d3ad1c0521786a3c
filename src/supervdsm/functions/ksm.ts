// KSM tuning (vdsm's ksmTune, behind Host.setKsmTune): the four knobs vdsm allows, each bounded as
// vdsm bounds it, written to /sys/kernel/mm/ksm and read back.
import { s } from '../../api/schema.js';
import { defineFunction, invalidArgument, notAllowed, p } from '../registry.js';

export const KSM_DIR = '/sys/kernel/mm/ksm';

/** Knob -> exclusive upper bound (vdsm's KSM_PARAMS). */
export const KSM_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  merge_across_nodes: 3,
  sleep_millisecs: 0x1_0000_0000,
  pages_to_scan: 0x1_0000_0000,
  run: 3,
});

/** Write order: merge_across_nodes only changes while nothing is merged, and `run` starts the scan last. */
const ORDER = Object.keys(KSM_LIMITS);

/**
 * A knob value as vdsm's int(): integers, numbers (MOM sent floats for sleep_millisecs, BZ 1733546;
 * truncated as Python does) and decimal strings.
 */
function knobValue(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  return undefined;
}

export const ksmTune = defineFunction<{ tuningParams: Record<string, unknown> }, Record<string, number>>({
  name: 'ksmTune',
  summary: 'set KSM knobs (run, merge_across_nodes, sleep_millisecs, pages_to_scan) and read them back',
  vdsmName: 'ksmTune',
  params: { tuningParams: p.required(s.map(s.any()), 'knob -> value') },
  async run({ tuningParams }, ctx) {
    const writes: [string, number][] = [];
    for (const [key, raw] of Object.entries(tuningParams)) {
      const limit = KSM_LIMITS[key];
      if (limit === undefined) throw notAllowed(ctx.method, `tuningParams.${key}`, key, ORDER);
      const v = knobValue(raw);
      if (v === undefined || v < 0 || v >= limit) throw invalidArgument(ctx.method, `tuningParams.${key}`, `${JSON.stringify(raw)} is not an integer in 0..${limit - 1}`);
      writes.push([key, v]);
    }
    writes.sort((a, b) => ORDER.indexOf(a[0]) - ORDER.indexOf(b[0]));
    return ctx.exclusive('ksm', async () => {
      for (const [key, v] of writes) await ctx.fs.write(`${KSM_DIR}/${key}`, [KSM_DIR], String(v));
      const after: Record<string, number> = {};
      for (const [key] of writes) after[key] = Number((await ctx.fs.read(`${KSM_DIR}/${key}`, [KSM_DIR], 64)).trim());
      ctx.log.info({ set: Object.fromEntries(writes), now: after }, 'KSM tuned');
      return after;
    });
  },
});
