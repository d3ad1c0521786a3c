// The guest agents inside the VM manager: merged guest info in the VM's report, the VM_status event when an
// agent reports the guest up, VM.shutdown trying a responsive oVirt agent first (with the user's delay and
// message), then qemu-ga, then ACPI, and the desktop verbs with vdsm's errors. libvirt is a recording
// stand-in and the vmchannels thread an in-process fake (both are exercised for real in the real-VM tier).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { apiMethods } from '../../src/api/vm-guest.js';
import { VmManager } from '../../src/services/vm-manager.js';
import { VmRecordStore } from '../../src/services/vm-records.js';
import { isError, Errors } from '../../src/errors.js';
import type { ChannelUpdate, SendReply } from '../../src/guest/channel-protocol.js';
import { GuestAgents } from '../../src/guest/guest-agents.js';
import { OvirtChannels, type ChannelTransport } from '../../src/guest/ovirt-channels.js';
import type { OvirtCommand } from '../../src/guest/ovirt-protocol.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ShutdownFlag } from '../../src/libvirt/constants.js';
import { StatsCache } from '../../src/virt/stats-cache.js';
import { domainXml, VM_UUID } from '../virt/domain-fixtures.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { ManualTime } from '../support/manual-time.js';

class FakeTransport implements ChannelTransport {
  paths = new Map<string, string>();
  sent: OvirtCommand[] = [];
  add(vmId: string, path: string): void { this.paths.set(vmId, path); }
  remove(vmId: string): void { this.paths.delete(vmId); }
  reboot(): void { /* nothing to forget here */ }
  send(_vmId: string, cmd: OvirtCommand): Promise<SendReply> { this.sent.push(cmd); return Promise.resolve({ ok: true }); }
  describe(): Promise<undefined> { return Promise.resolve(undefined); }
}

async function setup(opts: { acpi?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-vmguest-'));
  const time = new ManualTime(1_000_000);
  const transport = new FakeTransport();
  const late: { vms?: VmManager } = {};
  // Wired as the composition root wires it: the agent's word on the guest goes to the VM manager.
  const channels = new OvirtChannels({
    transport, clock: time, timers: time, log: pino({ level: 'silent' }),
    onGuestStatus: (vmId, up) => late.vms?.guestStatusChanged(vmId, up, up ? 'ovirtGuestAgentUp' : 'ovirtGuestAgentTimeout'),
  });
  const guest = new GuestAgents({ clock: time, channels, log: pino({ level: 'silent' }) });
  const ops: { op: string; flags?: number }[] = [];
  const events: { method: string; params: Record<string, unknown> }[] = [];
  const failOps = new Set<string>();
  const xml = domainXml({ acpi: opts.acpi ?? true });
  const dispatcher = {
    dispatch: <T>(op: string, args?: unknown): Promise<T> => {
      ops.push({ op, ...((args as { flags?: number }).flags !== undefined ? { flags: (args as { flags: number }).flags } : {}) });
      if (failOps.has(op)) return Promise.reject(Object.assign(new Error('agent not available'), { code: 'ERR_LIBVIRT_AGENT_UNRESPONSIVE' }));
      return Promise.resolve((op === 'libvirt.xmlDesc' ? xml : undefined) as T);
    },
  };
  const vms = new VmManager({
    libvirt: new LibvirtClient({ dispatcher, connections: new ConnectionsStub() }),
    records: new VmRecordStore(dir),
    statsCache: new StatsCache(time),
    clock: time,
    timers: time,
    log: pino({ level: 'silent' }),
    publish: (method, params) => events.push({ method, params }),
    sysShutdownTimeoutS: 120,
    userShutdownTimeoutS: 30,
    guest,
    vmCommandTimeoutS: 60,
  });
  late.vms = vms;
  await vms.create({ xml });
  const vm = vms.container.require(VM_UUID);
  // The launch runs on: wait for its libvirt calls (real I/O for the record), not for time.
  for (let i = 0; i < 100_000 && vm.state.status !== 'Powering up'; i++) await new Promise((r) => setImmediate(r));
  assert.equal(vm.state.status, 'Powering up');
  ops.length = 0;
  const update = (u: Omit<ChannelUpdate, 'vmId'>): void => channels.apply([{ vmId: VM_UUID, ...u }]);
  const cleanup = async (): Promise<void> => { vms.close(); await rm(dir, { recursive: true, force: true }); };
  return { vms, vm, time, transport, channels, guest, ops, events, failOps, update, cleanup };
}

void test('the oVirt agent channel from the live XML is attached once the VM runs; its data shows in the report', async () => {
  const t = await setup();
  try {
    assert.equal(t.transport.paths.get(VM_UUID), `/var/lib/libvirt/qemu/channels/${VM_UUID}.ovirt-guest-agent.0`);
    assert.equal(t.vms.report(t.vm)['username'], 'Unknown');
    t.update({ lastMessageAt: t.time.now(), guestUp: true, fields: { username: '"alice"', appsList: '["a-1","b-2"]', memUsage: '512', guestName: '"g"' } });
    const r = t.vms.report(t.vm);
    assert.equal(r['username'], 'alice');
    assert.deepEqual(r['appsList'], ['a-1', 'b-2']);
    const memMiB = t.vm.domain.memoryKiB / 1024;
    assert.equal(r['memUsage'], String(Math.trunc(100 - (512 / memMiB) * 100)), 'percent used from the free MiB the agent gave');
    assert.equal(r['guestName'], 'g');
    t.time.advance(120_000);
    assert.equal(t.vms.report(t.vm)['username'], 'Unknown', 'not responsive after 120 s: defaults');
    assert.deepEqual(t.vms.report(t.vm)['appsList'], ['a-1', 'b-2'], 'the last application list is kept');
  } finally {
    await t.cleanup();
  }
});

void test('the oVirt agent\'s first heartbeat moves a booting VM to Up; a channel timeout sends a VM_status event with the guest stats', async () => {
  const t = await setup();
  try {
    t.events.length = 0;
    t.update({ lastMessageAt: t.time.now(), guestUp: true, fields: { appsList: '["x"]' } });
    assert.equal(t.vm.state.status, 'Up');
    assert.equal(t.events.length, 1, 'one event: the status change');
    const up = t.events[0]!.params[VM_UUID] as Record<string, unknown>;
    assert.equal(up['status'], 'Up');
    assert.deepEqual(up['appsList'], ['x'], 'the event carries the guest stats');
    t.update({ guestUp: true });
    assert.equal(t.events.length, 1, 'no change, no event');
    t.update({ guestUp: false });
    assert.equal(t.events.length, 2, 'vdsm sends one on every guest status change, even when the VM status stays');
    assert.equal((t.events[1]!.params[VM_UUID] as Record<string, unknown>)['status'], 'Up');
  } finally {
    await t.cleanup();
  }
});

void test('VM.shutdown: a responsive oVirt agent first (delay, message), then qemu-ga after delay + timeout, then ACPI after timeout', async () => {
  const t = await setup();
  try {
    t.update({ lastMessageAt: t.time.now(), guestUp: true });
    t.ops.length = 0;
    assert.equal(await t.vms.shutdown(VM_UUID, { delayS: 10, message: 'bye', timeoutS: 60 }), true);
    assert.deepEqual(t.transport.sent.at(-1), { name: 'shutdown', args: { timeout: 10, message: 'bye', reboot: 'False' } });
    assert.equal(t.vm.state.status, 'Powering down');
    assert.deepEqual(t.ops, [], 'libvirt not asked yet');
    t.time.advance(69_000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.ops, [], 'the oVirt agent gets delay + timeout');
    t.time.advance(1_000);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.ops, [{ op: 'libvirt.shutdown', flags: ShutdownFlag.GUEST_AGENT }]);
    t.time.advance(60_000);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.ops.at(-1), { op: 'libvirt.shutdown', flags: ShutdownFlag.ACPI_POWER_BTN });
  } finally {
    await t.cleanup();
  }
});

void test('VM.shutdown: an unresponsive oVirt agent is skipped; a failing qemu-ga falls back to ACPI at once; the default delay is user_shutdown_timeout', async () => {
  const t = await setup();
  try {
    t.failOps.add('libvirt.shutdown');
    t.ops.length = 0;
    await assert.rejects(t.vms.shutdown(VM_UUID, { timeoutS: 60 }), (e: unknown) => (e as Error).message.includes('agent not available'));
    assert.deepEqual(t.ops, [{ op: 'libvirt.shutdown', flags: ShutdownFlag.GUEST_AGENT }, { op: 'libvirt.shutdown', flags: ShutdownFlag.ACPI_POWER_BTN }]);
    assert.equal(t.transport.sent.filter((c) => c.name === 'shutdown').length, 0);
    t.failOps.clear();
    t.update({ lastMessageAt: t.time.now(), guestUp: true });
    await t.vms.shutdown(VM_UUID, {});
    assert.deepEqual(t.transport.sent.at(-1), { name: 'shutdown', args: { timeout: 30, message: 'System going down', reboot: 'False' } });
  } finally {
    await t.cleanup();
  }
});

void test('VM.shutdown without ACPI, qemu-ga or a responsive oVirt agent: error 4 with vdsm\'s message', async () => {
  const t = await setup({ acpi: false });
  try {
    t.vm.domain = { ...t.vm.domain, channels: t.vm.domain.channels.filter((c) => c.targetName !== 'org.qemu.guest_agent.0') };
    await assert.rejects(t.vms.shutdown(VM_UUID, {}), (e: unknown) => isError(e, Errors.VM_EXISTS) && /VM without ACPI or active oVirt guest agent/.test((e as Error).message));
    t.update({ lastMessageAt: t.time.now() });
    assert.equal(await t.vms.shutdown(VM_UUID, {}), true, 'a responsive oVirt agent is a way');
  } finally {
    await t.cleanup();
  }
});

void test('desktop verbs: the command goes out; true when the oVirt agent is responsive, error 19 when not, error 1 for an unknown VM', async () => {
  const t = await setup();
  try {
    const methods = Object.fromEntries(apiMethods({ vms: t.vms, guest: t.guest }).map((m) => [m.name, m.handler]));
    const ctx = { clientAddress: 'test', connectionId: 1 };
    await assert.rejects(Promise.resolve().then(() => methods['VM.desktopLock']!({ vmID: VM_UUID }, ctx)), (e: unknown) => isError(e, Errors.GUEST_AGENT_NONRESPONSIVE));
    assert.deepEqual(t.transport.sent.at(-1), { name: 'lock-screen' }, 'sent anyway, as vdsm does');
    t.update({ lastMessageAt: t.time.now() });
    assert.equal(await methods['VM.desktopLock']!({ vmID: VM_UUID }, ctx), true);
    assert.equal(await methods['VM.desktopLogin']!({ vmID: VM_UUID, domain: 'corp', username: 'bob', password: 'pw' }, ctx), true);
    assert.deepEqual(t.transport.sent.at(-1), { name: 'login', args: { username: 'bob@corp', password: 'pw' } });
    assert.equal(await methods['VM.desktopLogoff']!({ vmID: VM_UUID, force: true }, ctx), true);
    assert.deepEqual(t.transport.sent.at(-1), { name: 'log-off' });
    assert.equal(await methods['VM.desktopSendHcCommand']!({ vmID: VM_UUID, message: 'refresh' }, ctx), true);
    assert.deepEqual(t.transport.sent.at(-1), { name: 'hc', command: 'refresh' });
    await assert.rejects(Promise.resolve().then(() => methods['VM.desktopLock']!({ vmID: '00000000-0000-0000-0000-000000000000' }, ctx)), (e: unknown) => isError(e, Errors.NO_VM));
  } finally {
    await t.cleanup();
  }
});

void test('guest stats are merged again only when a source changed: repeated reads (every getAllVmStats) reuse the object, every change shows', async () => {
  const t = await setup();
  try {
    const mem = t.vm.domain.memoryKiB / 1024;
    t.update({ lastMessageAt: t.time.now(), guestUp: true, fields: { username: '"alice"' } });
    const view = t.channels.view(VM_UUID)!;
    let merges = 0;
    const info = view.info.bind(view);
    view.info = () => {
      merges++;
      return info();
    };
    const a = t.guest.stats(VM_UUID, mem);
    assert.equal(a.username, 'alice');
    const before = merges;
    for (let i = 0; i < 5; i++) assert.equal(t.guest.stats(VM_UUID, mem), a);
    assert.equal(merges, before, 'an unchanged source is not merged again');
    t.update({ lastMessageAt: t.time.now(), fields: { username: '"bob"' } });
    assert.equal(t.guest.stats(VM_UUID, mem).username, 'bob', 'a new field value shows');
    const b = t.guest.stats(VM_UUID, mem);
    t.time.advance(120_000);
    const c = t.guest.stats(VM_UUID, mem);
    assert.notEqual(c, b);
    assert.equal(c.username, 'Unknown', 'responsiveness lost with time shows');
    assert.equal((JSON.parse((await t.vms.reportsJson()).text) as { username: string }[])[0]!.username, 'Unknown');
  } finally {
    await t.cleanup();
  }
});
