// setupNetworks' connectivity check on a manual clock: confirmed by confirmConnectivity or ping from
// anywhere, by other requests only from a non-loopback peer, only after it was armed; a timeout to the
// millisecond when nobody comes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectivityCheck } from '../../src/network/connectivity.js';
import { ManualTime } from '../support/manual-time.js';

void test('confirmConnectivity resolves the wait; nothing resolves it before the timeout otherwise', async () => {
  const t = new ManualTime();
  const c = new ConnectivityCheck(t, t);
  c.request('Host.getStats', '192.0.2.1'); // before the change: does not count
  const waiting = c.wait(4000);
  t.advance(1500);
  c.request('Host.getStats', '127.0.0.1');
  c.request('Host.getStats', '::ffff:127.0.0.1');
  t.advance(1000);
  assert.equal(c.waiting, 1, 'loopback requests prove nothing about the engine');
  c.request('Host.confirmConnectivity', '127.0.0.1');
  assert.deepEqual(await waiting, { how: 'confirmConnectivity', afterMs: 2500 });
});

void test('any request from a non-loopback peer counts; the timeout fires at exactly the timeout', async () => {
  const t = new ManualTime();
  const c = new ConnectivityCheck(t, t);
  const a = c.wait(3000);
  t.advance(10);
  c.request('Host.getCapabilities', '::ffff:192.0.2.1');
  assert.deepEqual(await a, { how: 'request', afterMs: 10 });
  const b = c.wait(3000);
  t.advance(2999);
  assert.equal(c.waiting, 1);
  t.advance(1);
  assert.equal(await b, undefined);
  c.request('Host.ping', '192.0.2.1');
  assert.equal(c.waiting, 0);
});
