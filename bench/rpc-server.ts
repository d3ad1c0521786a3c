// The server half of the RPC benchmark, run as its own process so it does not share a thread with the
// load generator: one plain and one TLS server with the Host verbs plus Bench.vmStats (a ~55 KB result,
// the size of Host.getAllVmStats for 100 VMs). Prints {"plain":port,"tls":port,"pki":dir} and runs until
// stdin closes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apiMethods } from '../src/api/host-basic.js';
import { MethodTable } from '../src/api/method-table.js';
import { s } from '../src/api/schema.js';
import { createRootLogger, LogManager } from '../src/observability/logging.js';
import { ensureDevPki, loadTlsFiles } from '../src/rpc/pki.js';
import { createRpcServer } from '../src/rpc/rpc-server.js';
import { Registry } from 'prom-client';

/** One VM's stats with the keys and string formatting the engine reads (engine-wire.md §7.1). */
export function vmStats(i: number): Record<string, unknown> {
  const id = `6ba7b810-9dad-11d1-80b4-${String(i).padStart(12, '0')}`;
  return {
    vmId: id, status: 'Up', statusTime: '4295123456', elapsedTime: '86400', cpuUser: '1.25', cpuSys: '0.50',
    memUsage: '42', monitorResponse: '0', hash: '-4217416325263437842',
    displayInfo: [{ type: 'vnc', port: '5900', tlsPort: '-1', ipAddress: '192.0.2.10' }],
    network: { vnet0: { name: 'vnet0', rx: '123456', tx: '654321', rxDropped: '0', txDropped: '0', sampleTime: '4295123.456', speed: '1000', state: 'up' } },
    disks: { vda: { readRate: '0.00', writeRate: '512.00', readLatency: '0.000100', writeLatency: '0.000200' } },
  };
}

async function main(): Promise<void> {
  const logManager = new LogManager(createRootLogger({ level: 'silent' }));
  const payload = Array.from({ length: 100 }, (_, i) => vmStats(i));
  const methods = () =>
    new MethodTable([
      ...apiMethods({ logManager }),
      { name: 'Bench.vmStats', description: 'getAllVmStats-sized result', params: [], result: s.array(s.any()), handler: () => payload },
    ]);
  const pkiDir = await mkdtemp(path.join(tmpdir(), 'vdsm-bench-pki-'));
  const pki = await ensureDevPki(pkiDir);
  const tls = await loadTlsFiles(pki.server);
  const plain = createRpcServer({ host: '127.0.0.1', port: 0, methods: methods(), logManager, metricsRegistry: new Registry() });
  const secure = createRpcServer({ host: '127.0.0.1', port: 0, methods: methods(), logManager, metricsRegistry: new Registry(), tls });
  const [a, b] = await Promise.all([plain.start(), secure.start()]);
  process.stdout.write(JSON.stringify({ plain: a.port, tls: b.port, pki: pkiDir, payloadBytes: JSON.stringify(payload).length }) + '\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await Promise.all([plain.close(), secure.close()]);
  await rm(pkiDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`rpc-server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
