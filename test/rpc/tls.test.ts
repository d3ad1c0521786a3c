// TLS on the management port: TLS 1.2+ only, a client certificate signed by the configured CA required;
// the dev PKI is created once and reused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { ensureDevPki, loadTlsFiles } from '../../src/rpc/pki.js';
import { RawClient } from '../peers/raw-socket.js';
import { startServer, type Fixture } from './server-fixture.js';

let fx: Fixture;
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vdsm-tls-test-'));
  fx = await startServer({ tls: true, pkiDir: dir });
});
after(async () => {
  await fx.close();
  await rm(dir, { recursive: true, force: true });
});

function handshake(opts: tls.ConnectionOptions): Promise<'ok' | string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: fx.port, checkServerIdentity: () => undefined, ...opts });
    s.once('secureConnect', () => {
      // TLS 1.3 reports a rejected client certificate only after the handshake: probe with a frame.
      s.write('CONNECT\naccept-version:1.2\n\n\0');
    });
    s.once('data', (d: Buffer) => {
      resolve(d.toString().startsWith('CONNECTED') ? 'ok' : `unexpected ${d.toString()}`);
      s.destroy();
    });
    s.once('error', (e) => resolve(`error: ${e.message}`));
    s.once('close', () => resolve('closed'));
  });
}

void test('the dev PKI is laid out like /etc/pki/vdsm and is reused on the next start', async () => {
  const p = fx.pki!;
  assert.ok(p.server.keyFile.endsWith(path.join('pki', 'keys', 'vdsmkey.pem')));
  assert.ok(p.server.certFile.endsWith(path.join('pki', 'certs', 'vdsmcert.pem')));
  assert.ok(p.server.caFile.endsWith(path.join('pki', 'certs', 'cacert.pem')));
  const before = (await stat(p.server.certFile)).mtimeMs;
  await ensureDevPki(dir);
  assert.equal((await stat(p.server.certFile)).mtimeMs, before);
  const { stdout } = await promisify(execFile)('openssl', ['verify', '-CAfile', p.server.caFile, p.server.certFile, p.client.certFile]);
  assert.match(stdout, /vdsmcert.pem: OK[\s\S]*clientcert.pem: OK/);
});

void test('a client with a CA-signed certificate gets through, with TLS 1.2 and 1.3', async () => {
  const c = fx.clientTls!;
  assert.equal(await handshake({ key: c.key, cert: c.cert, ca: c.ca, maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' }), 'ok');
  assert.equal(await handshake({ key: c.key, cert: c.cert, ca: c.ca }), 'ok');
});

void test('a client without a certificate is refused', async () => {
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    assert.notEqual(await handshake({ ca: fx.clientTls!.ca, minVersion: v, maxVersion: v }), 'ok', v);
  }
});

void test('a client whose certificate comes from another CA is refused', async () => {
  const other = await mkdtemp(path.join(tmpdir(), 'vdsm-tls-other-'));
  try {
    const rogue = await loadTlsFiles((await ensureDevPki(other)).client);
    assert.notEqual(await handshake({ key: rogue.key, cert: rogue.cert, ca: fx.clientTls!.ca }), 'ok');
  } finally {
    await rm(other, { recursive: true, force: true });
  }
});

void test('TLS 1.1 and plaintext are refused', async () => {
  const c = fx.clientTls!;
  assert.notEqual(await handshake({ key: c.key, cert: c.cert, ca: c.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }), 'ok');
  const raw = await RawClient.connect(fx.port);
  raw.write('CONNECT\naccept-version:1.2\n\n\0');
  await raw.waitClosed();
  assert.ok(!raw.text.includes('CONNECTED'));
});

void test('HTTP /health over TLS (detected after the handshake) answers with the client certificate', async () => {
  const c = fx.clientTls!;
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: fx.port, path: '/health', key: c.key, cert: c.cert, ca: c.ca, checkServerIdentity: () => undefined }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`status ${res.statusCode}`))));
      })
      .on('error', reject);
  });
  assert.equal((JSON.parse(body) as { ready: boolean }).ready, true);
});
