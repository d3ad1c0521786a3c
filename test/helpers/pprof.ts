// Reading pprof profiles back with pprof-format (an independent decoder) in tests.
import type { Profile } from 'pprof-format';

/** Every (thread label, stack of function names and files) of a decoded pprof profile. */
export function pprofStacks(p: Profile): { thread: string; frames: { name: string; file: string }[]; values: number[] }[] {
  const str = (i: number | bigint): string => p.stringTable.strings[Number(i)] ?? '';
  const fn = new Map(p.function.map((f) => [Number(f.id), { name: str(f.name), file: str(f.filename) }]));
  const loc = new Map(p.location.map((l) => [Number(l.id), fn.get(Number(l.line[0]!.functionId))!]));
  return p.sample.map((s) => ({
    thread: str(s.label.find((l) => str(l.key) === 'thread')!.str),
    frames: s.locationId.map((id) => loc.get(Number(id))!),
    values: s.value.map(Number),
  }));
}
