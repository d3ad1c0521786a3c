// The vdsm-client CLI against a real server: JSON output, key=value params parsed as JSON, errors on
// stderr with a non-zero exit, TLS with the host certificates by default (or the dev PKI from the state
// dir), clear messages when client and server disagree about TLS, --version, verb discovery from the
// method table, --help, and --watch-events.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer, type Fixture } from './server-fixture.js';

const BIN = fileURLToPath(new URL('../../src/bin/vdsm-client.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, VDSM_STATE_DIR: '/nonexistent', VDSM_TRUST_STORE: '/nonexistent', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
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

void test('Host ping2 prints true over plain TCP with --insecure', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(plain.port), '--insecure', 'Host', 'ping2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'true\n');
});

void test('without --insecure and without any certificate it says where it looked instead of falling back to plain TCP', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(plain.port), 'Host', 'ping2']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /no client certificate: the host certificates \(\/nonexistent\/certs\/vdsmcert\.pem, \/nonexistent\/keys\/vdsmkey\.pem, \/nonexistent\/certs\/cacert\.pem\)/);
  assert.match(r.stderr, /--insecure for an agent with \[vars\] ssl = false/);
});

// The dev PKI is laid out like /etc/pki/vdsm: as a trust store it stands for a host's own certificates.
void test('TLS with the host certificates by default (trust store from --trust-store or $VDSM_TRUST_STORE)', async () => {
  const byEnv = await run(['-a', '127.0.0.1', '-p', String(secure.port), 'Host', 'ping2'], { VDSM_TRUST_STORE: path.join(dir, 'pki') });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.equal(byEnv.stdout, 'true\n');
  const byFlag = await run(['-a', '127.0.0.1', '-p', String(secure.port), '--trust-store', path.join(dir, 'pki'), 'Host', 'ping2']);
  assert.equal(byFlag.code, 0, byFlag.stderr);
});

void test('a plain client at a TLS server, and a TLS client at a plain server, are told which side speaks what', async () => {
  const plainToTls = await run(['-a', '127.0.0.1', '-p', String(secure.port), '--insecure', '--timeout', '5', 'Host', 'ping2']);
  assert.equal(plainToTls.code, 3);
  assert.match(plainToTls.stderr, new RegExp(`the server on 127\\.0\\.0\\.1:${secure.port} speaks TLS and this client used plain TCP \\(--insecure\\): drop --insecure`));
  assert.doesNotMatch(plainToTls.stderr, /^vdsm-client: connection closed$/m);
  const tlsToPlain = await run(['-a', '127.0.0.1', '-p', String(plain.port), '--trust-store', path.join(dir, 'pki'), '--timeout', '5', 'Host', 'ping2']);
  assert.equal(tlsToPlain.code, 3);
  assert.match(tlsToPlain.stderr, new RegExp(`the server on 127\\.0\\.0\\.1:${plain.port} speaks plain TCP, not TLS \\(an agent with \\[vars\\] ssl = false\\): add --insecure`));
  const closed = await run(['-a', '127.0.0.1', '-p', '1', '--insecure', 'Host', 'ping2']);
  assert.equal(closed.code, 3);
  assert.match(closed.stderr, /nothing listens on 127\.0\.0\.1:1/);
});

void test('--version prints the package version', async () => {
  const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  const r = await run(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `vdsm-node ${pkg.version}\n`);
});

void test('vdsm-client Host lists the Host verbs from the method table, without an agent', async () => {
  const r = await run(['Host']);
  assert.equal(r.code, 0, r.stderr);
  const verbs = [...r.stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1]);
  for (const v of ['getAllVmStats', 'getCapabilities', 'getStats', 'getVMList', 'ping2']) assert.ok(verbs.includes(v), `${v} listed`);
  assert.match(r.stdout, /^ {2}ping2 +Pure liveness check/m);
  const unknown = await run(['Nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown namespace "Nope"; namespaces: Host, Image, StorageDomain, StoragePool, Task, VM, Volume/);
});

void test('vdsm-client Host getVMList -h shows the parameters and their types', async () => {
  const r = await run(['Host', 'getVMList', '-h']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: vdsm-client \[connection options\] Host getVMList \[fullStatus=VALUE\] \[vmList=VALUE\] \[onlyUUID=VALUE\]$/m);
  assert.match(r.stdout, /^ {2}vmList +string\[\] +optional, default \[\] +Only these VM ids/m);
  assert.match(r.stdout, /^ {2}fullStatus +boolean +optional, default false/m);
  assert.match(r.stdout, /^Result: .*VmShortStatus\[\]/m);
  const create = await run(['VM.create', '--help']);
  assert.match(create.stdout, /^ {2}vmID +string +required/m);
  const missing = await run(['Host', 'nope', '-h']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Host\.nope is not in this installation's method table/);
});

void test('TLS with the dev PKI client certificate found in --state-dir', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(secure.port), '--state-dir', dir, 'Host', 'ping2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'true\n');
  const insecure = await run(['-a', '127.0.0.1', '-p', String(secure.port), '--insecure', '--timeout', '3', 'Host', 'ping2']);
  assert.equal(insecure.code, 3, 'plain TCP to a TLS port fails as a connection problem');
});

void test('name=value parameters are JSON when they parse, strings otherwise; Namespace.verb works too', async () => {
  const r = await run(['-p', String(plain.port), '-a', '127.0.0.1', '--insecure', 'Host.echo', 'message={"a":[1,true]}']);
  assert.deepEqual(JSON.parse(r.stdout), { a: [1, true] });
  const s = await run(['-p', String(plain.port), '-a', '127.0.0.1', '--insecure', 'Host', 'echo', 'message=hello world']);
  assert.equal(JSON.parse(s.stdout), 'hello world');
});

void test('a failed verb exits 1 with the code and message on stderr', async () => {
  const r = await run(['-a', '127.0.0.1', '-p', String(plain.port), '--insecure', 'Host', 'nope']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /code=-32601, message=The method does not exist or is not available: \{'method': 'Host.nope'\}/);
});

void test('--help explains usage and exits 0; a bad invocation exits 2', async () => {
  const h = await run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /usage: vdsm-client/);
  assert.match(h.stdout, /--watch-events/);
  assert.equal((await run([])).code, 2);
  assert.equal((await run(['--bogus'])).code, 2);
});

void test('--watch-events prints one JSON line per event', async () => {
  const child = spawn(process.execPath, [BIN, '-a', '127.0.0.1', '-p', String(plain.port), '--insecure', '--watch-events', '--count', '2'], { env: { ...process.env, VDSM_STATE_DIR: '/nonexistent' } });
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
