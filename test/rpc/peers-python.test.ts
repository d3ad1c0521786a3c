// The shared Python peer (python3-stomp) against our server over plain TCP: ping2, echo, events, a
// one-element batch, a private reply-to destination and the flow-id header; and over TLS with a
// client certificate (stomp.py's set_ssl, Python's ssl module).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pythonPeerAvailable, runPythonPeer, runPythonPeerTls } from '../peers/python-peer.js';
import { startServer, type Fixture } from './server-fixture.js';

let fx: Fixture;
let secure: Fixture;
let available = false;
before(async () => {
  available = await pythonPeerAvailable();
  [fx, secure] = await Promise.all([startServer(), startServer({ tls: true })]);
});
after(() => Promise.all([fx.close(), secure.close()]));

void test('in CI the python peer is present (a missing peer must not turn these tests into skips)', { skip: process.env['CI'] === undefined }, () => {
  assert.ok(available, 'python3-stomp (/usr/bin/python3) and ../shared/peers/stomp_jsonrpc_client.py must exist in CI');
});

void test('python peer: ping2 prints true', async (t) => {
  if (!available) return t.skip('python3-stomp or the peer script is missing');
  const r = await runPythonPeer(fx.port);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true');
});

void test('python peer: echo with named params, a private reply-to destination and a flow id', async (t) => {
  if (!available) return t.skip('python3-stomp missing');
  const r = await runPythonPeer(fx.port, ['--method', 'Host.echo', '--params', '{"message": {"a": [1, 2]}}', '--unique-reply-to', '--flow-id', 'abc123']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { a: [1, 2] });
});

void test('python peer: events are received', async (t) => {
  if (!available) return t.skip('python3-stomp missing');
  const r = await runPythonPeer(fx.port, ['--method', 'Test.emitEvents', '--params', '{"count": 2}', '--events', '2']);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.split('\n').filter((l) => l.startsWith('EVENT ')).map((l) => JSON.parse(l.slice(6)) as { destination: string; event: { method: string } });
  assert.equal(events.length, 2);
  assert.equal(events[0]!.destination, 'jms.queue.events');
  assert.equal(events[1]!.event.method, '|virt|VM_status|vm1');
});

void test('python peer: a one-element batch is answered (as an array)', async (t) => {
  if (!available) return t.skip('python3-stomp missing');
  const r = await runPythonPeer(fx.port, ['--batch', '--method', 'Host.ping2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true');
});

void test('python peer: an unknown verb is a JSON-RPC error with an integer code', async (t) => {
  if (!available) return t.skip('python3-stomp missing');
  const r = await runPythonPeer(fx.port, ['--method', 'Host.nope']);
  assert.equal(r.code, 1);
  const err = JSON.parse(r.stderr.slice(r.stderr.indexOf('{'))) as { code: unknown };
  assert.equal(err.code, -32601);
});

void test('python peer over TLS with a CA-signed client certificate: ping2 and events', async (t) => {
  if (!available) return t.skip('python3-stomp missing');
  const r = await runPythonPeerTls(secure.port, ['--method', 'Test.emitEvents', '--params', '{"count": 1}', '--events', '1'], secure.pki!.client, (m) => t.diagnostic(m));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^EVENT .*VM_status/m);
});

void test('python peer over TLS without a client certificate is refused', async (t) => {
  if (!available) return t.skip('python3-stomp missing');
  const r = await runPythonPeer(secure.port, ['--timeout', '3'], 20_000, { ...secure.pki!.client, keyFile: '', certFile: '' });
  // Under TLS 1.3 the server's refusal reaches the client after its handshake has completed, so stomp.py
  // reports it either as a lost connection (exit 3 or 4) or as an SSLEOFError from its receiver
  // thread (a traceback, exit 1): any failure, and never a result, is a refusal.
  assert.notEqual(r.code, 0, `a client without a certificate must not get an answer: ${r.stdout}`);
  assert.ok(r.code === 3 || r.code === 4 || /SSL|EOF|Connection/i.test(r.stderr), `refused (exit ${r.code}): ${r.stderr.slice(-300)}`);
  assert.doesNotMatch(r.stdout, /true/);
});
