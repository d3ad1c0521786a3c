// The asynchronous entry on its own (workers/offloaded-call.ts over native/offload/offload.h), on this
// (main) thread with vdsm_sleep's gates: calls pending at once on their own call threads, abandon by
// id, and an owner whose call was abandoned makes no further call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../../src/native.js';
import { offloadedCall, type AsyncEntry } from '../../workers/offloaded-call.js';

interface GateAddon extends AsyncEntry {
  openGate(id: number): void;
  gateWaiters(id: number): number;
  waitGateOffloaded(id: number): void;
  abandonCall(id: number, onDone?: (id: number) => void): boolean;
  nativeCalls(): Array<{ id: number; callTid: number; abandoned: boolean; async: boolean }>;
}
const gates = loadNativeAddon<GateAddon>('vdsm_sleep');
let nextGate = Math.floor(Math.random() * 1e9);

/** Resolves on the next turns of the event loop until cond() holds (a condition, not a wait for time). */
async function until(cond: () => boolean): Promise<void> {
  const giveUp = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > giveUp) throw new Error('condition not reached within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

void test('calls pending at once each wait on a call thread of their own and settle in any order', async () => {
  const [a, b, c] = [nextGate++, nextGate++, nextGate++];
  const keys: string[] = [];
  const calls = [a, b, c].map((g) => offloadedCall('vdsm_sleep', gates, () => gates.waitGateOffloaded(g), (k) => keys.push(k)));
  await until(() => gates.gateWaiters(a) + gates.gateWaiters(b) + gates.gateWaiters(c) === 3);
  assert.equal(new Set(keys).size, 3);
  const rows = gates.nativeCalls().filter((r) => keys.includes(`vdsm_sleep:${r.id}`));
  assert.equal(new Set(rows.map((r) => r.callTid)).size, 3, 'three call threads');
  assert.ok(rows.every((r) => r.async && !r.abandoned));
  gates.openGate(c);
  await calls[2];
  gates.openGate(a);
  gates.openGate(b);
  await Promise.all(calls);
});

void test('an abandoned call rejects at once; its owner\'s next call is not made; the call returns later and is reported', async () => {
  const [first, second] = [nextGate++, nextGate++];
  const owner = {};
  let key = '';
  const p = offloadedCall('vdsm_sleep', gates, () => gates.waitGateOffloaded(first), (k) => (key = k), owner).then(() => 'returned', (e: { code?: string }) => e.code);
  await until(() => gates.gateWaiters(first) === 1);
  const id = Number(key.split(':')[1]);
  let returned = -1;
  assert.equal(gates.abandonCall(id, (done) => (returned = done)), true);
  assert.equal(await p, 'ERR_NATIVE_CALL_ABANDONED', 'rejected while the call still waits');
  assert.equal(gates.gateWaiters(first), 1);
  assert.equal(gates.abandonCall(id), false, 'a second abandon is harmless');
  await assert.rejects(offloadedCall('vdsm_sleep', gates, () => gates.waitGateOffloaded(second), undefined, owner), { code: 'ERR_NATIVE_CALL_ABANDONED' });
  assert.equal(gates.gateWaiters(second), 0, 'the owner\'s next call was not made');
  gates.openGate(first);
  await until(() => returned === id);
  gates.openGate(second);
});
