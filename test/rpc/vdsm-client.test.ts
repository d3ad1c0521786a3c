// The vdsm-client CLI against a real server: JSON output, key=value params parsed as JSON, errors on
// stderr with a non-zero exit, TLS with the dev PKI from the state dir, --help, and --watch-events.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer, type Fixture } from './server-fixture.js';

const BIN = fileURLToPath(new URL('../../src/bin/vdsm-client.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, VDSM_STATE_DIR: '/nonexistent', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

let plain: Fixture;
let secure: Fixture;
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vdsm-client-test-'));
  [plain, secure] = await Promise.all([startServer(), startServer({ tls: true, pkiDir: dir })]);
});
after(async () => {
  await Promise.all([plain.close(), secure.close()]);
  await rm(dir, { recursive: true, force: true });
});

void test('Host ping2 prints true (plain TCP when no client certificate is around)', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(plain.port), 'Host', 'ping2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'true\n');
});

void test('TLS with the dev PKI client certificate found in --state-dir', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(secure.port), '--state-dir', dir, 'Host', 'ping2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'true\n');
  const insecure = await run(['-a', '127.0.0.1', '-p', String(secure.port), '--insecure', '--timeout', '3', 'Host', 'ping2']);
  assert.equal(insecure.code, 3, 'plain TCP to a TLS port fails as a connection problem');
});

void test('name=value parameters are JSON when they parse, strings otherwise; Namespace.verb works too', async () => {
  const r = await run(['-p', String(plain.port), '-a', '127.0.0.1', 'Host.echo', 'message={"a":[1,true]}']);
  assert.deepEqual(JSON.parse(r.stdout), { a: [1, true] });
  const s = await run(['-p', String(plain.port), '-a', '127.0.0.1', 'Host', 'echo', 'message=hello world']);
  assert.equal(JSON.parse(s.stdout), 'hello world');
});

void test('a failed verb exits 1 with the code and message on stderr', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(plain.port), 'Host', 'nope']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /code=-32601, message=The method does not exist or is not available: \{'method': 'Host.nope'\}/);
});

void test('--help explains usage and exits 0; a bad invocation exits 2', async () => {
  const h = await run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /usage: vdsm-client/);
  assert.match(h.stdout, /--watch-events/);
  assert.equal((await run(['Host'])).code, 2);
  assert.equal((await run(['--bogus'])).code, 2);
});

void test('--watch-events prints one JSON line per event', async () => {
  const child = spawn(process.execPath, [BIN, '-a', '127.0.0.1', '-p', String(plain.port), '--watch-events', '--count', '2'], { env: { ...process.env, VDSM_STATE_DIR: '/nonexistent' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  // Publish until the watcher (which subscribes asynchronously) has seen two events.
  const pump = setInterval(() => plain.rpc.publish('|virt|VM_status|x', { x: { status: 'Up' } }), 50);
  try {
    assert.equal(await exited, 0);
  } finally {
    clearInterval(pump);
  }
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { method: string; params: { notify_time: number } });
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.method, '|virt|VM_status|x');
  assert.ok(lines[0]!.params.notify_time > 0);
});
