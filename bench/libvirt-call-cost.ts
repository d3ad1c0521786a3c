// Bench `libvirt-call-cost`: what one call through the libvirt binding costs, to price running every
// libvirt call on the calling thread's native call thread (native/offload/offload.h: two thread
// hand-offs per call). Cheap in-process calls on libvirt's test driver (test:///default), so the
// binding's own overhead is what is measured: virConnectGetLibVersion (a Call) and virDomainGetState
// (a DomainCall: cached domain lookup + the call), from the main thread and from a worker_thread; and
// the same two through the asynchronous entry every Executor worker's libvirt op uses
// (workers/offloaded-call.ts: a first pass that hands the call over and throws a pending error, a
// promise settled through a thread-safe function, a second pass that converts the result), awaited one
// after another (the latency one op pays). Builds without the asynchronous entry report null there.
// Give other addon builds with --native-dirs (e.g. main's build/Release) to compare them in the same
// run: each build runs in its own child processes, alternating, and the report gives each case per
// build and the difference to the first.
//
//   node dist/bench/libvirt-call-cost.js [--calls=20000] [--repeats=3] [--native-dirs=,/work/main/build/Release]
//
// One JSON line per case (medians over repeats) on stdout; report.md in results/libvirt-call-cost/.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadVirtBinding } from '../src/libvirt/binding.js';
import { offloadedCall } from '../workers/offloaded-call.js';
import { nativeAddonPath } from '../src/native.js';
import { runChildCase } from './lib/child-case.js';
import { fmt, mdTable } from './lib/markdown.js';
import { emitCase, Flags, outDir as outDirOf, progress, step } from './lib/output.js';
import { benchFlags } from './lib/bench-help.js';
import { median, round } from './lib/stats.js';

interface Timing { getLibVersion_us: number; state_us: number; getLibVersion_async_us: number | null; state_async_us: number | null }

/** N calls of each kind on this thread; µs per call. */
async function measure(calls: number): Promise<Timing> {
  const virt = loadVirtBinding();
  const conn = virt.open('test:///default');
  try {
    const uuid = virt.lookupByName(conn, 'test').uuid;
    for (let i = 0; i < 1000; i++) {
      virt.getLibVersion(conn);
      virt.state(conn, uuid);
    }
    let t = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) virt.getLibVersion(conn);
    const lib = Number(process.hrtime.bigint() - t) / 1e3 / calls;
    t = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) virt.state(conn, uuid);
    const state = Number(process.hrtime.bigint() - t) / 1e3 / calls;
    if (typeof (virt as { offloadChain?: unknown }).offloadChain !== 'function') return { getLibVersion_us: lib, state_us: state, getLibVersion_async_us: null, state_async_us: null };
    for (let i = 0; i < 1000; i++) await offloadedCall('virt', virt, () => virt.state(conn, uuid));
    t = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await offloadedCall('virt', virt, () => virt.getLibVersion(conn));
    const libAsync = Number(process.hrtime.bigint() - t) / 1e3 / calls;
    t = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await offloadedCall('virt', virt, () => virt.state(conn, uuid));
    const stateAsync = Number(process.hrtime.bigint() - t) / 1e3 / calls;
    return { getLibVersion_us: lib, state_us: state, getLibVersion_async_us: libAsync, state_async_us: stateAsync };
  } finally {
    virt.close(conn);
  }
}

async function child(calls: number): Promise<Record<string, unknown>> {
  const main = await measure(calls);
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { calls } });
  const [inWorker] = (await new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve([m]));
    worker.once('error', reject);
  })) as [Timing];
  await worker.terminate();
  return { addon: nativeAddonPath('virt'), main, worker: inWorker };
}

async function parent(flags: Flags): Promise<void> {
  const calls = flags.num('calls', 20_000);
  const repeats = flags.num('repeats', 3);
  const dirs = flags.list('native-dirs', ['']).map((d) => (d === 'this' ? '' : d));
  if (dirs.length === 0) dirs.push('');
  const script = fileURLToPath(import.meta.url);
  const outDir = outDirOf(flags, 'libvirt-call-cost');
  await mkdir(outDir, { recursive: true });
  const runs = new Map<string, Array<Record<string, unknown>>>(dirs.map((d) => [d, []]));
  const total = repeats * dirs.length;
  let done = 0;
  for (let rep = 0; rep < repeats; rep++) {
    for (const dir of dirs) {
      step(done++, total, `build ${dir || 'this'} repeat ${rep + 1}/${repeats}`);
      if (dir) process.env['VDSM_NATIVE_DIR'] = dir;
      else delete process.env['VDSM_NATIVE_DIR'];
      runs.get(dir)!.push(await runChildCase<Record<string, unknown>>(script, ['--child', `--calls=${calls}`], { timeoutMs: 120_000 }));
    }
  }
  delete process.env['VDSM_NATIVE_DIR'];
  step(total, total, 'report');
  const rows: string[][] = [];
  const agg: Array<Record<string, unknown>> = [];
  for (const dir of dirs) {
    const r = runs.get(dir)!;
    const pick = (where: 'main' | 'worker', k: keyof Timing): number | null => {
      const xs = r.map((x) => (x[where] as Timing)[k]);
      return xs.some((x) => x === null) ? null : round(median(xs as number[]), 3);
    };
    const rec = {
      suite: 'libvirt-call-cost', case: `build ${dir || 'this'}`, addon: r[0]!['addon'], calls, repeats,
      main_getLibVersion_us: pick('main', 'getLibVersion_us'), main_state_us: pick('main', 'state_us'),
      worker_getLibVersion_us: pick('worker', 'getLibVersion_us'), worker_state_us: pick('worker', 'state_us'),
      worker_getLibVersion_async_us: pick('worker', 'getLibVersion_async_us'), worker_state_async_us: pick('worker', 'state_async_us'),
    };
    agg.push(rec);
    emitCase(rec);
  }
  const base = agg[0]!;
  const keys = ['main_getLibVersion_us', 'main_state_us', 'worker_getLibVersion_us', 'worker_state_us', 'worker_getLibVersion_async_us', 'worker_state_async_us'] as const;
  const cell = (a: Record<string, unknown>, k: string): string => {
    if (a[k] === null) return '-';
    if (a === base || base[k] === null) return fmt(a[k] as number, 2);
    const d = (a[k] as number) - (base[k] as number);
    return `${fmt(a[k] as number, 2)} (${d >= 0 ? '+' : ''}${fmt(d, 2)})`;
  };
  for (const a of agg) rows.push([String(a['addon']), ...keys.map((k) => cell(a, k))]);
  const md = [
    '# libvirt-call-cost',
    '',
    `µs per call through the binding on libvirt's test driver (in-process: the binding's own cost), ${calls} calls per case, medians of ${repeats} repeats,`,
    'each build in its own child process, builds alternating. In parentheses: the difference to the first build.',
    '',
    mdTable(['addon', 'main thread: getLibVersion', 'main thread: state', 'worker: getLibVersion', 'worker: state', 'worker, async entry: getLibVersion', 'worker, async entry: state'], rows),
    '',
  ].join('\n');
  await writeFile(join(outDir, 'report.md'), md);
  progress(md);
}

if (!isMainThread) {
  const { calls } = workerData as { calls: number };
  parentPort!.postMessage(await measure(calls));
} else {
  const flags = benchFlags({
    name: 'libvirt-call-cost',
    about: "What one call through the libvirt binding costs (test:///default): getLibVersion and a domain's state, on the main thread, in a worker and through the asynchronous entry.",
    options: {
      calls: 'N: calls per case (default 20000)',
      repeats: 'N: runs per case, the median reported (default 3)',
      'native-dirs': 'D,D: addon builds to compare in the same run (this = this checkout\'s build/Release)',
      out: 'DIR: where report.md goes (default results/libvirt-call-cost)',
    },
    internal: ['child'],
  });
  if (flags.has('child')) process.stdout.write(`${JSON.stringify(await child(flags.num('calls', 20_000)))}\n`);
  else await parent(flags);
}
