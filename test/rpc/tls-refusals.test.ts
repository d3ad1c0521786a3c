// TLS refusals are logged at warn with their reason (no certificate, another CA, expired), at most one
// line a second per reason carrying the count suppressed meanwhile (issue 9, item 7). Real handshakes
// against the server; the acceptor's clock is injected.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { ensureDevPki, loadTlsFiles } from '../../src/rpc/pki.js';
import { ManualTime } from '../support/manual-time.js';
import { startServer, type Fixture } from './server-fixture.js';
import { capturingLogManager } from './silent-log.js';

const run = promisify(execFile);

/** A client certificate signed by the dev CA that expired in 2020 (openssl ca takes explicit dates). */
async function expiredClient(pkiDir: string): Promise<{ key: Buffer; cert: Buffer }> {
  const pki = path.join(pkiDir, 'pki');
  const dir = await mkdtemp(path.join(tmpdir(), 'vdsm-expired-'));
  const key = path.join(dir, 'key.pem');
  const csr = path.join(dir, 'req.csr');
  const cert = path.join(dir, 'cert.pem');
  await writeFile(path.join(dir, 'index.txt'), '');
  await writeFile(path.join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', `database = ${dir}/index.txt`, `new_certs_dir = ${dir}`, 'default_md = sha256',
    'policy = p', 'rand_serial = yes', 'unique_subject = no', '[p]', 'commonName = supplied', '',
  ].join('\n'));
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=expired-client']);
  await run('openssl', ['ca', '-batch', '-config', path.join(dir, 'ca.cnf'), '-in', csr, '-out', cert, '-cert', path.join(pki, 'certs', 'cacert.pem'),
    '-keyfile', path.join(pki, 'private', 'cakey.pem'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
  const out = { key: await readFile(key), cert: await readFile(cert) };
  await rm(dir, { recursive: true, force: true });
  return out;
}

void describe('TLS refusals', () => {
  let dir: string;
  let fx: Fixture;
  let time: ManualTime;
  let lines: Record<string, unknown>[];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vdsm-tls-refusals-'));
    time = new ManualTime();
    const logs = capturingLogManager('info');
    lines = logs.lines;
    fx = await startServer({ tls: true, pkiDir: dir, clock: time, timers: time, logManager: logs.logManager });
  });
  after(async () => {
    await fx.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Handshake and probe; resolves once the server has dealt with it (the socket closes). */
  const attempt = (opts: tls.ConnectionOptions): Promise<void> => new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: fx.port, checkServerIdentity: () => undefined, ca: fx.clientTls!.ca, ...opts });
    s.once('secureConnect', () => s.write('CONNECT\naccept-version:1.2\n\n\0'));
    s.on('error', () => undefined);
    s.once('close', () => resolve());
  });
  const refusals = (reason: string): Record<string, unknown>[] => lines.filter((l) => l['msg'] === `TLS handshake refused: ${reason}`);
  const settled = async (reason: string, n: number): Promise<void> => {
    const tlsErrors = (): number => (fx.rpc.state()['acceptor'] as { tlsErrors: number }).tlsErrors;
    while (tlsErrors() < n) await new Promise((r) => setImmediate(r));
    assert.ok(refusals(reason).length >= 1, JSON.stringify(lines.filter((l) => (l['level'] as number) >= 40)));
  };

  void it('each reason is named at warn: no certificate, another CA, expired', async () => {
    await attempt({});
    await settled('no client certificate', 1);
    const rogue = await loadTlsFiles((await ensureDevPki(path.join(dir, 'rogue'))).client);
    await attempt({ key: rogue.key, cert: rogue.cert });
    await settled('client certificate not signed by the trusted CA', 2);
    const expired = await expiredClient(dir);
    await attempt({ key: expired.key, cert: expired.cert });
    await settled('client certificate expired', 3);
    for (const reason of ['no client certificate', 'client certificate not signed by the trusted CA', 'client certificate expired']) {
      const [line] = refusals(reason);
      assert.equal(line!['level'], 40, reason);
      assert.match(String(line!['client']), /^127\.0\.0\.1:\d+$/);
    }
  });

  void it('a flood of refusals leaves one line a second per reason, with the count suppressed', async () => {
    time.advance(1000);
    const before = refusals('no client certificate').length;
    for (let i = 0; i < 20; i++) await attempt({});
    assert.equal(refusals('no client certificate').length, before + 1);
    time.advance(1000);
    await attempt({});
    const last = refusals('no client certificate').at(-1)!;
    assert.equal(last['suppressed'], 19);
  });
});
