// V8 profiles (one per thread) -> one pprof profile (pprof-format), every sample labelled with the
// thread it came from, so `go tool pprof -tagfocus thread=periodic/2` or a flame graph per thread works.
// [devel] cpu_profile_clock: 'cpu' leaves out the samples V8 took while the thread was idle, 'wall'
// keeps them. [devel] cpu_profile_builtins: false leaves Node's own frames (node:* modules) out of the
// stacks, as vdsm's profiler leaves out C builtins.
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { Function as PprofFunction, Label, Line, Location, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import type { CpuProfile, HeapSamplingProfile } from '../thread-probe.js';

const gzipAsync = promisify(gzip);

export interface ThreadCpuProfile { thread: string; profile: CpuProfile }
export interface ThreadHeapProfile { thread: string; profile: HeapSamplingProfile }

export interface PprofOptions {
  /** Keep Node's internal frames (node:* urls). */
  builtins: boolean;
}

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }

/** Functions and locations shared by all threads of one profile. */
class Frames {
  readonly strings = new StringTable();
  readonly functions: PprofFunction[] = [];
  readonly locations: Location[] = [];
  #fn = new Map<string, number>();
  #loc = new Map<string, number>();

  location(f: CallFrame): number {
    const name = f.functionName === '' ? '(anonymous)' : f.functionName;
    const line = f.lineNumber + 1;
    const key = `${name}\0${f.url}\0${line}\0${f.columnNumber}`;
    let id = this.#loc.get(key);
    if (id !== undefined) return id;
    const fkey = `${name}\0${f.url}\0${line}`;
    let fid = this.#fn.get(fkey);
    if (fid === undefined) {
      fid = this.functions.length + 1;
      this.#fn.set(fkey, fid);
      this.functions.push(new PprofFunction({ id: fid, name: this.strings.dedup(name), systemName: this.strings.dedup(name), filename: this.strings.dedup(f.url), startLine: line }));
    }
    id = this.locations.length + 1;
    this.#loc.set(key, id);
    this.locations.push(new Location({ id, line: [new Line({ functionId: fid, line, column: f.columnNumber + 1 })] }));
    return id;
  }
}

function keep(f: CallFrame, opts: PprofOptions): boolean {
  return opts.builtins || !f.url.startsWith('node:');
}

/** Leaf-first stack of location ids; Node's frames are dropped unless builtins. */
function stackOf(frames: Frames, path: readonly CallFrame[], opts: PprofOptions): number[] {
  const stack: number[] = [];
  for (let i = path.length - 1; i >= 0; i--) if (keep(path[i]!, opts)) stack.push(frames.location(path[i]!));
  if (stack.length === 0 && path.length > 0) stack.push(frames.location({ functionName: '(node internals)', url: '', lineNumber: -1, columnNumber: -1 }));
  return stack;
}

/** Samples with the same thread and stack merged. */
class Aggregate {
  #samples = new Map<string, { stack: number[]; thread: string; values: number[] }>();

  add(thread: string, stack: number[], values: number[]): void {
    const key = `${thread}\0${stack.join(',')}`;
    const s = this.#samples.get(key);
    if (s) for (let i = 0; i < values.length; i++) s.values[i]! += values[i]!;
    else this.#samples.set(key, { stack, thread, values: [...values] });
  }

  samples(strings: StringTable): Sample[] {
    const threadKey = strings.dedup('thread');
    return [...this.#samples.values()].map((s) => new Sample({ locationId: s.stack, value: s.values, label: [new Label({ key: threadKey, str: strings.dedup(s.thread) })] }));
  }
}

/** CPU profiles of several threads as one pprof profile: samples (count) and cpu or wall time (ns). */
export function cpuProfilesToPprof(threads: readonly ThreadCpuProfile[], opts: PprofOptions & { clock: 'cpu' | 'wall'; intervalUs: number; startedAtMs: number }): Profile {
  const frames = new Frames();
  const agg = new Aggregate();
  let durationUs = 0;
  for (const { thread, profile } of threads) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const paths = new Map<number, CallFrame[]>();
    const pathOf = (id: number): CallFrame[] => {
      let p = paths.get(id);
      if (p !== undefined) return p;
      const node = byId.get(id);
      const up = parent.get(id);
      const base = up === undefined ? [] : pathOf(up);
      p = node === undefined || node.callFrame.functionName === '(root)' ? base : [...base, node.callFrame];
      paths.set(id, p);
      return p;
    };
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    durationUs = Math.max(durationUs, profile.endTime - profile.startTime);
    for (let i = 0; i < samples.length; i++) {
      const path = pathOf(samples[i]!);
      const leaf = path[path.length - 1];
      if (leaf === undefined || (opts.clock === 'cpu' && leaf.functionName === '(idle)')) continue;
      agg.add(thread, stackOf(frames, path, opts), [1, Math.max(0, deltas[i] ?? 0) * 1000]);
    }
  }
  const s = frames.strings;
  const timeType = new ValueType({ type: s.dedup(opts.clock), unit: s.dedup('nanoseconds') });
  return new Profile({
    sampleType: [new ValueType({ type: s.dedup('samples'), unit: s.dedup('count') }), timeType],
    sample: agg.samples(s),
    location: frames.locations,
    function: frames.functions,
    stringTable: s,
    timeNanos: BigInt(Math.round(opts.startedAtMs)) * 1_000_000n,
    durationNanos: Math.round(durationUs * 1000),
    periodType: timeType,
    period: opts.intervalUs * 1000,
    comment: [s.dedup(`vdsm-node CPU profile of ${threads.length} thread(s): ${threads.map((t) => t.thread).join(', ')}`)],
  });
}

/** Sampling heap profiles of several threads as one pprof profile: live objects (count) and space (bytes). */
export function heapProfilesToPprof(threads: readonly ThreadHeapProfile[], opts: PprofOptions & { intervalBytes: number; startedAtMs: number }): Profile {
  const frames = new Frames();
  const agg = new Aggregate();
  for (const { thread, profile } of threads) {
    const counts = new Map<number, number>();
    for (const smp of profile.samples ?? []) counts.set(smp.nodeId, (counts.get(smp.nodeId) ?? 0) + 1);
    const walk = (node: HeapSamplingProfile['head'], path: CallFrame[]): void => {
      const here = node.callFrame.functionName === '(root)' ? path : [...path, node.callFrame];
      if (node.selfSize > 0) agg.add(thread, stackOf(frames, here, opts), [counts.get(node.id) ?? 0, node.selfSize]);
      for (const c of node.children) walk(c, here);
    };
    walk(profile.head, []);
  }
  const s = frames.strings;
  return new Profile({
    sampleType: [new ValueType({ type: s.dedup('objects'), unit: s.dedup('count') }), new ValueType({ type: s.dedup('space'), unit: s.dedup('bytes') })],
    sample: agg.samples(s),
    location: frames.locations,
    function: frames.functions,
    stringTable: s,
    timeNanos: BigInt(Math.round(opts.startedAtMs)) * 1_000_000n,
    periodType: new ValueType({ type: s.dedup('space'), unit: s.dedup('bytes') }),
    period: opts.intervalBytes,
    comment: [s.dedup(`vdsm-node sampling heap profile of ${threads.length} thread(s): ${threads.map((t) => t.thread).join(', ')}`)],
  });
}

/** The gzipped protobuf `go tool pprof` and other pprof readers open. */
export async function encodePprof(p: Profile): Promise<Buffer> {
  return gzipAsync(await p.encodeAsync());
}
