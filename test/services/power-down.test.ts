// VM.shutdown's power-down sequence on the manual clock: each method gets its full timeout and no
// more, the next method follows, a VM that goes down ends it, force powers off at the end, cancel stops
// everything. The target is a recording stand-in for the VM manager (libvirt is not involved here;
// test/realvm/agent-real-vm.test.ts shuts a real guest down through ACPI).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ShutdownFlag } from '../../src/libvirt/constants.js';
import { PowerDown, powerDownMethods, type PowerDownMethod, type PowerDownOptions, type PowerDownTarget } from '../../src/services/power-down.js';
import { ManualTime } from '../support/manual-time.js';

const AGENT: PowerDownMethod = { name: 'qemu-guest-agent', flags: 4 };
const ACPI: PowerDownMethod = { name: 'acpi', flags: 1 };
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

class Target implements PowerDownTarget {
  readonly vmId = 'vm-1';
  readonly calls: string[] = [];
  down = false;
  refuse = new Set<string>();
  failDestroy = false;

  async request(m: PowerDownMethod, reboot: boolean): Promise<void> {
    this.calls.push(`${reboot ? 'reboot' : 'shutdown'}:${m.name}`);
    if (this.refuse.has(m.name)) throw new Error(`${m.name} unavailable`);
  }

  accepted(m: PowerDownMethod, reboot: boolean): void {
    this.calls.push(`accepted:${m.name}${reboot ? ':reboot' : ''}`);
  }

  async destroy(): Promise<void> {
    this.calls.push('destroy');
    if (this.failDestroy) throw new Error('destroy failed');
    this.down = true;
  }

  failed(): void {
    this.calls.push('failed');
  }

  isDown(): boolean {
    return this.down;
  }
}

function setup(opts: Partial<PowerDownOptions> = {}): { time: ManualTime; target: Target; seq: PowerDown } {
  const time = new ManualTime(0);
  const target = new Target();
  const seq = new PowerDown(target, {
    methods: [AGENT, ACPI], timeoutMs: 30_000, reboot: false, force: false, clock: time, timers: time, log: pino({ level: 'silent' }), ...opts,
  });
  return { time, target, seq };
}

/** Advance in 1 s steps, letting the sequence's promises run between timers. */
async function advance(time: ManualTime, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    time.advance(Math.min(1000, left));
    await flush();
  }
}

void test('each method gets its whole timeout, then the next; without force the VM is reported Up again', async () => {
  const { time, target, seq } = setup();
  await seq.start();
  assert.deepEqual(target.calls, ['shutdown:qemu-guest-agent', 'accepted:qemu-guest-agent']);
  await advance(time, 29_000);
  assert.equal(target.calls.length, 2, 'nothing more before the first timeout');
  await advance(time, 1_000);
  assert.deepEqual(target.calls.slice(2), ['shutdown:acpi']);
  await advance(time, 29_000);
  assert.equal(target.calls.length, 3);
  await advance(time, 1_000);
  assert.equal(await seq.outcome, 'timed-out');
  assert.deepEqual(target.calls.slice(3), ['failed']);
  assert.equal(time.pendingTimers, 0, 'no timer left behind');
});

void test('a VM that goes down ends the sequence at the next look (1 s)', async () => {
  const { time, target, seq } = setup();
  await seq.start();
  await advance(time, 5_000);
  target.down = true;
  await advance(time, 1_000);
  assert.equal(await seq.outcome, 'down');
  assert.deepEqual(target.calls, ['shutdown:qemu-guest-agent', 'accepted:qemu-guest-agent']);
  assert.equal(time.pendingTimers, 0);
});

void test('a refused method is skipped at once; the engine gets its answer from the first accepted one', async () => {
  const { target, seq } = setup();
  target.refuse.add('qemu-guest-agent');
  await seq.start();
  assert.deepEqual(target.calls, ['shutdown:qemu-guest-agent', 'shutdown:acpi', 'accepted:acpi']);
});

void test('no method accepted: the first error without force, a power-off with it', async () => {
  const plain = setup();
  plain.target.refuse = new Set(['qemu-guest-agent', 'acpi']);
  await assert.rejects(plain.seq.start(), /qemu-guest-agent unavailable/);
  assert.equal(plain.seq.outcome, undefined);

  const forced = setup({ force: true });
  forced.target.refuse = new Set(['qemu-guest-agent', 'acpi']);
  await forced.seq.start();
  assert.equal(await forced.seq.outcome, 'destroyed');
  assert.deepEqual(forced.target.calls.slice(-1), ['destroy']);
});

void test('force powers the VM off once every method had its time; a failed power-off is logged', async () => {
  const { time, target, seq } = setup({ force: true, timeoutMs: 10_000 });
  await seq.start();
  await advance(time, 20_000);
  assert.equal(await seq.outcome, 'destroyed');
  assert.deepEqual(target.calls, ['shutdown:qemu-guest-agent', 'accepted:qemu-guest-agent', 'shutdown:acpi', 'destroy']);

  const failing = setup({ force: true, timeoutMs: 10_000 });
  failing.target.failDestroy = true;
  await failing.seq.start();
  await advance(failing.time, 20_000);
  assert.equal(await failing.seq.outcome, 'destroy-failed');
});

void test('cancel stops the sequence: no further request, no power-off, no "timed out"', async () => {
  const { time, target, seq } = setup({ force: true });
  await seq.start();
  await advance(time, 3_000);
  seq.cancel();
  assert.equal(await seq.outcome, 'cancelled');
  await advance(time, 120_000);
  assert.deepEqual(target.calls, ['shutdown:qemu-guest-agent', 'accepted:qemu-guest-agent']);
  assert.equal(time.pendingTimers, 0);
});

void test('a reboot request is done once accepted: no waiting for Down', async () => {
  const { time, target, seq } = setup({ reboot: true });
  await seq.start();
  assert.equal(await seq.outcome, 'rebooting');
  assert.deepEqual(target.calls, ['reboot:qemu-guest-agent', 'accepted:qemu-guest-agent:reboot']);
  assert.equal(time.pendingTimers, 0);
});

void test('the methods in vdsm\'s order: a responsive oVirt agent first (with its users\' delay), then qemu-ga, then ACPI', () => {
  assert.deepEqual(powerDownMethods({ ovirtAgent: true, qemuAgent: true, acpi: true }, 30_000), [
    { name: 'ovirt-guest-agent', flags: 0, graceMs: 30_000 },
    { name: 'qemu-guest-agent', flags: ShutdownFlag.GUEST_AGENT },
    { name: 'acpi', flags: ShutdownFlag.ACPI_POWER_BTN },
  ]);
  assert.deepEqual(powerDownMethods({ ovirtAgent: false, qemuAgent: false, acpi: true }, 30_000).map((m) => m.name), ['acpi']);
  assert.deepEqual(powerDownMethods({ ovirtAgent: true, qemuAgent: false, acpi: false }, 0).map((m) => m.name), ['ovirt-guest-agent']);
  assert.deepEqual(powerDownMethods({ ovirtAgent: false, qemuAgent: false, acpi: false }, 30_000), []);
});

void test('the oVirt agent\'s method gets its users\' delay on top of the timeout before qemu-ga is asked', async () => {
  const methods = powerDownMethods({ ovirtAgent: true, qemuAgent: true, acpi: false }, 10_000);
  const { time, target, seq } = setup({ methods, timeoutMs: 60_000 });
  await seq.start();
  assert.deepEqual(target.calls, ['shutdown:ovirt-guest-agent', 'accepted:ovirt-guest-agent']);
  await advance(time, 69_000);
  assert.equal(target.calls.length, 2, 'nothing more before delay + timeout');
  await advance(time, 1_000);
  assert.deepEqual(target.calls.slice(2), ['shutdown:qemu-guest-agent']);
  await advance(time, 59_000);
  assert.equal(target.calls.length, 3, 'qemu-ga gets the plain timeout');
  await advance(time, 1_000);
  assert.equal(await seq.outcome, 'timed-out');
});
