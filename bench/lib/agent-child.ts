// A real vdsmd for a bench, in its own process (as systemd would run it): a private state and run
// directory, a free port, libvirt's test driver on a node XML with the VMs the bench asks for. Reads the
// daemon's JSON log to learn its port and when it is ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { killAndRemove } from './child-case.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNodeXml } from '../../src/libvirt/fixture.js';
import { devPkiPaths, loadTlsFiles } from '../../src/rpc/pki.js';
import type { TlsMaterial } from '../../src/rpc/acceptor.js';

// VDSM_BENCH_VDSMD runs another build's vdsmd (an older checkout's dist/src/bin/vdsmd.js) under the
// same load generator and floor: before/after figures from one bench, one machine, one day.
const VDSMD = process.env['VDSM_BENCH_VDSMD'] || fileURLToPath(new URL('../../src/bin/vdsmd.js', import.meta.url));
// VDSM_BENCH_SET adds configuration items (space-separated SECTION.KEY=VALUE, as --set) to every vdsmd
// a bench starts, e.g. to profile the agent under a bench's load:
//   VDSM_BENCH_SET='devel.cpu_profile_enable=true devel.cpu_profile_filename=/tmp/prof/vdsmd.prof'
// (vdsmd then gets SIGTERM and its orderly stop, so that the profiles are written).
const EXTRA_SET = (process.env['VDSM_BENCH_SET'] ?? '').split(' ').filter(Boolean);

export interface BenchAgent {
  port: number;
  /** The vdsmd process (its main thread's tid is the pid). */
  pid: number;
  tls: boolean;
  /** Client certificate of the agent's development PKI (TLS agents only). */
  clientTls: TlsMaterial | undefined;
  /** The agent's server certificate files (TLS agents only), for a floor server speaking the same TLS. */
  serverTlsFiles: { keyFile: string; certFile: string; caFile: string } | undefined;
  stop(): Promise<void>;
}

export interface BenchAgentOptions {
  tls: boolean;
  vms: number;
  /** Extra --set items. */
  set?: readonly string[];
  readyTimeoutMs?: number;
}

export async function startBenchAgent(opts: BenchAgentOptions): Promise<BenchAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-bench-agent-'));
  const uri = await writeNodeXml(dir, { domains: opts.vms, namePrefix: 'bench-vm' });
  const args = [
    VDSMD, '--profile', opts.tls ? 'embedded' : 'dev',
    '--set', `libvirt.uri=${uri}`, '--set', 'addresses.management_port=0',
    '--set', `vars.state_dir=${dir}`, '--set', `vars.run_dir=${join(dir, 'run')}`,
    ...[...(opts.set ?? []), ...EXTRA_SET].flatMap((s) => ['--set', s]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, JOURNAL_STREAM: '' } });
  const kill = killAndRemove(child, dir);
  // With VDSM_BENCH_SET (a profile, say) vdsmd gets SIGTERM and its own orderly stop, so that what it
  // writes at stop is written; SIGKILL after 15 s all the same.
  const stop = EXTRA_SET.length === 0 ? kill : async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await kill();
  };
  try {
    const port = await waitPort(child, opts.readyTimeoutMs ?? 30_000);
    const clientTls = opts.tls ? await loadTlsFiles(devPkiPaths(dir).client) : undefined;
    return { port, pid: child.pid!, tls: opts.tls, clientTls, serverTlsFiles: opts.tls ? devPkiPaths(dir).server : undefined, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The port from the "serving" line, once the "ready" line (recovery done) has been logged. */
function waitPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let port = 0;
    let tail = '';
    const timer = setTimeout(() => reject(new Error(`vdsmd not ready within ${timeoutMs} ms: ${tail}`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        tail = line;
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'vdsm-node serving the management port' && rec.port) port = rec.port;
          if (rec.msg === 'vdsm-node ready' && port) {
            clearTimeout(timer);
            resolve(port);
          }
        } catch {
          // not JSON: ignore
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { tail = c; });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`vdsmd exited with ${code}: ${tail}`)); });
  });
}
