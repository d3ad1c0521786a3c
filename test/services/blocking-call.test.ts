// The record of a blocking libvirt call that /health shows for migrations and hibernations.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BlockingCall } from '../../src/services/migration/blocking-call.js';

void it('running with its time so far, then how it ended; the tracked promise settles as the call does', async () => {
  let t = 1000;
  const call = new BlockingCall({ now: () => t });
  assert.deepEqual(call.describe(t), { state: 'idle' });
  assert.equal(call.running, false);
  let finish!: (v: string) => void;
  const tracked = call.track(new Promise<string>((r) => (finish = r)));
  assert.equal(call.running, true);
  assert.deepEqual(call.describe(1250), { state: 'running', runningMs: 250 });
  assert.equal(call.blockedMs, undefined);
  t = 1400;
  finish('done');
  assert.equal(await tracked, 'done');
  assert.equal(call.running, false);
  assert.equal(call.blockedMs, 400);
  assert.deepEqual(call.describe(2000), { state: 'ok', startedAt: 1000, endedAt: 1400 });

  const failed = call.track(Promise.reject(new Error('virDomainSaveFlags: no space')));
  await assert.rejects(failed, /no space/);
  assert.deepEqual(call.describe(2000), { state: 'error', startedAt: 1400, endedAt: 1400, error: 'virDomainSaveFlags: no space' });
});
