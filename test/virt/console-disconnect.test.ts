// The console disconnect action (vdsm's consoleDisconnectAction) driven by libvirt's graphics event
// phases on the manual clock: the recorded client's disconnect acts after the 2 s grace unless a client
// connected again; other clients' disconnects, NONE and a gone VM do nothing. The actions are recorded
// (the real-VM tier shows the guest receiving them: test/realvm/console-disconnect-real-vm.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConsoleWatch, DISCONNECT_GRACE_MS, GraphicsPhase } from '../../src/virt/console-disconnect.js';
import { vncSaslStep } from '../../src/virt/graphics-ticket.js';
import { ManualTime } from '../support/manual-time.js';

const silent = { info: () => {}, warn: () => {}, debug: () => {} };
const client = (node: string, service: string): { node: string; service: string } => ({ node, service });

function setup(gone = false): { watch: ConsoleWatch; time: ManualTime; done: string[] } {
  const time = new ManualTime();
  const done: string[] = [];
  const watch = new ConsoleWatch({
    timers: time, log: silent,
    actions: {
      lockScreen: (vmId) => { done.push(`lock ${vmId}`); return Promise.resolve(); },
      logoff: (vmId) => { done.push(`logoff ${vmId}`); return Promise.resolve(); },
      powerDown: (vmId, reboot) => { done.push(`${reboot ? 'reboot' : 'shutdown'} ${vmId}`); return Promise.resolve(); },
      isGone: () => gone,
    },
  });
  return { watch, time, done };
}

void describe('console disconnect action', () => {
  void it('locks the screen (the default) 2 s after the connected client disconnects, not before', () => {
    const { watch, time, done } = setup();
    watch.onGraphics('vm1', GraphicsPhase.CONNECT, client('10.0.0.5', '4000'));
    assert.equal(watch.clientIp('vm1'), '', 'a client counts once it is authenticated (INITIALIZE)');
    watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('10.0.0.5', '4000'));
    assert.equal(watch.clientIp('vm1'), '10.0.0.5');
    watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('10.0.0.5', '4000'));
    assert.equal(watch.clientIp('vm1'), '');
    time.advance(DISCONNECT_GRACE_MS - 1);
    assert.deepEqual(done, []);
    time.advance(1);
    assert.deepEqual(done, ['lock vm1']);
  });

  void it('each ticket sets the action: LOGOUT, REBOOT, SHUTDOWN act through their paths; NONE does nothing; no action named is LOCK_SCREEN', () => {
    const { watch, time, done } = setup();
    for (const action of ['LOGOUT', 'REBOOT', 'SHUTDOWN', 'NONE', undefined]) {
      watch.setAction('vm1', action);
      watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('::1', '5'));
      watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('::1', '5'));
      time.advance(DISCONNECT_GRACE_MS);
    }
    assert.deepEqual(done, ['logoff vm1', 'reboot vm1', 'shutdown vm1', 'lock vm1']);
  });

  void it('a client that connects again within the grace keeps the session: nothing happens', () => {
    const { watch, time, done } = setup();
    watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('10.0.0.5', '4000'));
    watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('10.0.0.5', '4000'));
    time.advance(1_000);
    watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('10.0.0.5', '4001'));
    time.advance(5_000);
    assert.deepEqual(done, []);
  });

  void it("another client's disconnect (a viewer that never authenticated, another port) is ignored", () => {
    const { watch, time, done } = setup();
    watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('10.0.0.9', '1'));
    watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('10.0.0.5', '4000'));
    watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('10.0.0.9', '1'));
    watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('10.0.0.5', '4999'));
    time.advance(10_000);
    assert.deepEqual(done, []);
    assert.equal(watch.clientIp('vm1'), '10.0.0.5');
  });

  void it('a VM that went down (forget) or is gone when the grace ends gets no action', () => {
    const a = setup();
    a.watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('h', '1'));
    a.watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('h', '1'));
    a.watch.forget('vm1');
    assert.equal(a.time.pendingTimers, 0);
    const b = setup(true);
    b.watch.onGraphics('vm1', GraphicsPhase.INITIALIZE, client('h', '1'));
    b.watch.onGraphics('vm1', GraphicsPhase.DISCONNECT, client('h', '1'));
    b.time.advance(DISCONNECT_GRACE_MS);
    assert.deepEqual([...a.done, ...b.done], []);
  });
});

void describe("a VNC ticket's SASL step (vdsm's fips / vncUsername)", () => {
  void it('fips "true" sets the password for vncUsername; otherwise the user is removed; bad values are errors', () => {
    assert.deepEqual(vncSaslStep({ fips: 'true', vncUsername: 'vnc-1' }), { op: 'set', user: 'vnc-1' });
    assert.deepEqual(vncSaslStep({ fips: 'false', vncUsername: 'vnc-1' }), { op: 'remove', user: 'vnc-1' });
    assert.deepEqual(vncSaslStep({ vncUsername: 'vnc-1' }), { op: 'remove', user: 'vnc-1' });
    assert.equal(vncSaslStep({}), undefined);
    assert.deepEqual(vncSaslStep({ fips: 'true' }), { error: 'general', message: 'FIPS mode requires vncUsername' });
    assert.deepEqual(vncSaslStep({ fips: 'yes', vncUsername: 'u' }), { error: 'missing-param', message: 'fips param should either be "true", "false" or non-existent' });
  });
});
