// Host.getAllVmStats of every VM served from the last reply kept whole (virt/whole-reply.ts, issue 17): a
// read either serves the kept bytes again with its own read-time values written over the old ones, or
// assembles the reply VM by VM as before. Whatever happened in between, the reply must be byte for byte
// what the assembly from the VMs' templates (the same verb with every VM listed, which never uses the kept
// reply) and JSON.stringify of fresh reports give at the same clock: after a new sample, status changes
// (Up -> Paused -> Down), guest agent updates, VMs added and removed, a migrating VM's progress, a value
// changing width (elapsedTime 9 -> 10 s, monitorResponse 0 <-> -1, sampleTime 999 -> 1000 s), and the clock
// moving. And a kept buffer some holder still has (a connection still writing it, a reply never handed
// on) is never written to: its bytes stay as they were, the read gets a copy. Time is ManualTime; the
// server's part (encode the envelope around the bytes, release its reference once handed on) is done
// here as rpc-server.ts does it.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { SendReply } from '../../src/guest/channel-protocol.js';
import { GuestAgents } from '../../src/guest/guest-agents.js';
import { OvirtChannels, type ChannelTransport } from '../../src/guest/ovirt-channels.js';
import { LibvirtClient } from '../../src/libvirt/client.js';
import { ChunkedWriter } from '../../src/rpc/chunked-writer.js';
import { encodeRawReply } from '../../src/rpc/reply-encoder.js';
import { encodeMessagePartsWith, messageHead } from '../../src/rpc/stomp-frame.js';
import type { RawJson } from '../../src/runtime/raw-json.js';
import { ReplyBufferPool } from '../../src/runtime/reply-buffers.js';
import { VmManager, type Vm, type VmManagerOptions } from '../../src/services/vm-manager.js';
import { VmRecordStore } from '../../src/services/vm-records.js';
import { parseDomainXml } from '../../src/virt/domain-xml.js';
import { StatsCache, type BulkSample } from '../../src/virt/stats-cache.js';
import { VmStatus } from '../../src/virt/vm-state.js';
import type { WholeReplyState } from '../../src/virt/whole-reply.js';
import { ConnectionsStub } from '../support/connections-stub.js';
import { LazySink } from '../support/lazy-sink.js';
import { ManualTime } from '../support/manual-time.js';
import { SliceGate } from '../support/slice-gate.js';
import { domainXml } from '../virt/domain-fixtures.js';

type Obj = Record<string, unknown>;
type Kind = 'assembled' | 'reused' | 'patched' | 'copied';

function record(cpuTime: number): Record<string, number | string> {
  return {
    'cpu.time': cpuTime, 'cpu.user': cpuTime / 4, 'cpu.system': cpuTime / 4, 'vcpu.current': 2, 'balloon.current': 4194304,
    'net.count': 2, 'net.0.name': 'vnet0', 'net.0.rx.bytes': cpuTime / 1000, 'net.0.tx.bytes': 5, 'net.0.rx.errs': 0, 'net.0.rx.drop': 0, 'net.0.tx.errs': 0, 'net.0.tx.drop': 0,
    'net.1.name': 'vnet1', 'net.1.rx.bytes': 7, 'net.1.tx.bytes': cpuTime / 2000, 'net.1.rx.errs': 0, 'net.1.rx.drop': 0, 'net.1.tx.errs': 0, 'net.1.tx.drop': 0,
  };
}

const uuid = (i: number): string => `5e1f0a46-2f5b-4d2b-9c37-${String(i).padStart(12, '0')}`;
/** The response head rpc-server puts before the bytes (its id varies per request). */
const PREFIX = '{"jsonrpc":"2.0","id":"req-1","result":';

class FakeTransport implements ChannelTransport {
  add(): void { /* no thread here */ }
  remove(): void { /* nothing to close */ }
  reboot(): void { /* nothing to forget */ }
  send(): Promise<SendReply> { return Promise.resolve({ ok: true }); }
  describe(): Promise<undefined> { return Promise.resolve(undefined); }
}

async function setup(n: number, o: { responsiveMs?: number; reportSlices?: VmManagerOptions['reportSlices'] } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-whole-'));
  const time = new ManualTime(500_000);
  const stats = new StatsCache(time);
  const records = new VmRecordStore(dir);
  // Small buffers pooled too, so a reply of a few VMs is kept.
  const pool = new ReplyBufferPool({ minBytes: 1024 });
  const channels = new OvirtChannels({ transport: new FakeTransport(), clock: time, timers: time, log: pino({ level: 'silent' }), ...(o.responsiveMs !== undefined ? { responsiveMs: o.responsiveMs } : {}) });
  const guest = new GuestAgents({ clock: time, channels, log: pino({ level: 'silent' }) });
  const vms = new VmManager({
    libvirt: new LibvirtClient({ dispatcher: { dispatch: () => Promise.reject(new Error('no libvirt call expected')) }, connections: new ConnectionsStub() }),
    records, statsCache: stats, clock: time, timers: time, log: pino({ level: 'silent' }), publish: () => undefined,
    sysShutdownTimeoutS: 120, vmCommandTimeoutS: 60, replyBuffers: pool, guest,
    ...(o.reportSlices !== undefined ? { reportSlices: o.reportSlices } : {}),
  });
  const list: Vm[] = [];
  const add = (i: number): Vm => {
    const xml = domainXml({ uuid: uuid(i) });
    const vm = vms.adopt(parseDomainXml(xml), xml, VmStatus.UP, Date.now() - 2_000);
    list.push(vm);
    return vm;
  };
  for (let i = 0; i < n; i++) add(i);
  const put = (cpu: number): void => {
    const s: BulkSample = {};
    list.forEach((vm, i) => (s[vm.vmId] = record(cpu * 1e9 + i * 1e6)));
    stats.put(s, stats.clock());
  };
  /** A new sample, rebuilt into the VMs' templates by the background walk. */
  const sampled = async (cpu: number): Promise<void> => {
    put(cpu);
    vms.refreshReports();
    await vms.reportsSettled();
  };
  const whole = (): WholeReplyState => vms.describeReports().whole!;
  /** What rpc-server does with a reply: the envelope around the bytes (in place), then its reference released. */
  const deliver = (raw: RawJson): { body: string; bytes: Buffer } => {
    const bytes = raw.encode(PREFIX, '}');
    const body = bytes.toString('utf8', Buffer.byteLength(PREFIX), bytes.length - 1);
    pool.release(bytes);
    return { body, bytes };
  };
  /**
   * One getAllVmStats read of every VM, delivered, checked against the assembly and JSON.stringify at the
   * same clock (`fresh`: false while a sample waits for its rebuild, when only the assembly can compare).
   * Returns how the read was served.
   */
  const read = async (what: string, fresh = true): Promise<{ kind: Kind; body: string; bytes: Buffer }> => {
    const before = whole();
    const { body, bytes } = deliver(await vms.reportsJson());
    const after = whole();
    const kinds = (['assembled', 'reused', 'patched', 'copied'] as const).filter((k) => after[k] !== before[k]);
    assert.equal(kinds.length, 1, `${what}: served one way (${kinds.join()})`);
    const assembled = (await vms.reportsJson(list.map((v) => v.vmId))).text;
    assert.equal(body, assembled, `${what}: the same bytes as the assembly from the templates`);
    if (fresh) assert.equal(body, JSON.stringify(vms.reports()), `${what}: the same bytes as JSON.stringify of fresh reports`);
    return { kind: kinds[0]!, body, bytes };
  };
  return {
    time, stats, pool, channels, vms, list, add, put, sampled, whole, deliver, read,
    cleanup: async () => {
      vms.close();
      await records.remove('none');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** `body` on `n` VMs with two samples in and rebuilt (1 s apart); cleaned up whatever happens. */
async function withVms(n: number, body: (t: Setup) => Promise<void>): Promise<void> {
  const t = await setup(n);
  try {
    await t.sampled(1);
    t.time.advance(1_000);
    await t.sampled(2);
    await body(t);
  } finally {
    await t.cleanup();
  }
}

void test('the kept reply is served again with each read\'s values, byte for byte the assembly, after every kind of change', async () => {
  const t = await setup(4);
  try {
    await t.sampled(1);
    t.time.advance(15_000);
    await t.sampled(2);
    // The walk after each sample assembled the reply: the first read already finds it kept.
    assert.equal((await t.read('first read')).kind, 'reused');
    assert.equal(t.whole().assembled, 0);
    assert.equal((await t.read('same clock')).kind, 'reused');
    const stamped = t.whole().stamped;
    assert.equal((await t.read('same clock, again')).kind, 'reused');
    assert.equal(t.whole().stamped, stamped + 1, 'nothing changed: the per-VM checks were skipped');
    t.time.advance(1);
    assert.equal((await t.read('one ms later')).kind, 'patched');
    t.time.advance(1_000);
    assert.equal((await t.read('one s later: elapsedTime moved')).kind, 'patched');

    // A new sample: until its rebuild reaches the VMs, both paths serve the previous texts; then it shows,
    // from the reply the walk assembled at its end: no read assembles after a sample.
    t.time.advance(15_000);
    t.put(3);
    assert.equal((await t.read('sample not rebuilt yet', false)).kind, 'patched');
    const background = t.whole().background;
    t.vms.refreshReports();
    await t.vms.reportsSettled();
    assert.equal(t.whole().background, background + 1, 'the walk assembled the reply');
    assert.equal((await t.read('new sample rebuilt')).kind, 'reused');
    assert.equal((await t.read('after the new sample')).kind, 'reused');

    // Status changes show on the very next read.
    t.list[1]!.state.paused('EIO');
    const paused = await t.read('VM 1 paused');
    assert.equal(paused.kind, 'assembled');
    assert.equal((JSON.parse(paused.body) as Obj[])[1]!['status'], VmStatus.PAUSED);
    assert.equal((await t.read('paused, again')).kind, 'reused');
    t.list[1]!.state.markDown({ exitCode: 1, exitMessage: 'gone', exitReason: 1 }, 'test');
    const down = await t.read('VM 1 down');
    assert.equal(down.kind, 'assembled');
    assert.equal((JSON.parse(down.body) as Obj[])[1]!['status'], VmStatus.DOWN);
    // (A status change also schedules the background walk; whatever it rebuilds shows like a new sample.)
    await t.vms.reportsSettled();
    await t.read('down, walk settled');
    t.time.advance(3);
    assert.equal((await t.read('down, 3 ms later')).kind, 'patched');

    // A guest agent update (it arrives unannounced) shows on the very next read.
    t.channels.attach(t.list[2]!.vmId, '/run/ga.sock');
    t.channels.apply([{ vmId: t.list[2]!.vmId, lastMessageAt: t.time.now(), guestUp: true, fields: { username: '"alice"' } }]);
    const guest = await t.read('guest agent update');
    assert.equal(guest.kind, 'assembled');
    assert.equal((JSON.parse(guest.body) as Obj[])[2]!['username'], 'alice');
    assert.equal((await t.read('guest unchanged')).kind, 'reused');
    t.channels.apply([{ vmId: t.list[2]!.vmId, fields: { username: '"bob"' } }]);
    assert.equal((JSON.parse((await t.read('guest field changed')).body) as Obj[])[2]!['username'], 'bob');
    // The agent's responsiveness ages with time alone: the next read after 120 s shows it.
    t.time.advance(121_000);
    await t.sampled(4);
    const aged = await t.read('guest agent unresponsive with time');
    assert.equal((JSON.parse(aged.body) as Obj[])[2]!['username'], 'Unknown');

    // VMs added and removed.
    t.add(9);
    await t.sampled(5);
    const added = await t.read('VM added');
    assert.equal(added.kind, 'reused', 'assembled by the walk after the sample');
    assert.equal((JSON.parse(added.body) as Obj[]).length, 5);
    assert.equal((await t.read('after the add')).kind, 'reused');
    t.vms.container.remove(t.list[0]!.vmId);
    t.list.shift();
    const removed = await t.read('VM removed');
    assert.equal(removed.kind, 'assembled');
    assert.equal((JSON.parse(removed.body) as Obj[]).length, 4);

    // A migrating VM's progress moves with every read: such a reply is assembled each time, never kept.
    let progress = 10;
    t.vms.setMigrationView({ progress: () => progress });
    const mig = t.list[1]!;
    assert.equal(mig.state.status, VmStatus.UP);
    assert.ok(mig.state.migrationStarted());
    const m1 = await t.read('migration started');
    assert.equal(m1.kind, 'assembled');
    assert.equal((JSON.parse(m1.body) as Obj[])[1]!['migrationProgress'], 10);
    progress = 55;
    const m2 = await t.read('migration progress moved');
    assert.equal(m2.kind, 'assembled');
    assert.equal((JSON.parse(m2.body) as Obj[])[1]!['migrationProgress'], 55);
    assert.equal(t.whole().bytes, 0, 'a reply with a migrating VM is not kept');
    assert.ok(mig.state.migrationFailed());
    assert.equal((await t.read('migration failed: Up again')).kind, 'assembled');
    assert.equal((await t.read('after the migration')).kind, 'reused');
  } finally {
    await t.cleanup();
  }
});

void test('a value changing width means an assembly: elapsedTime 9 -> 10 s, monitorResponse 0 -> -1 -> 0, sampleTime 999 -> 1000 s', async () => {
  await withVms(3, async (t) => {
    // elapsedTime: to 9.5 s after the first VM's start, then 10.5 s.
    const started = t.list[0]!.state.startedAt;
    t.time.advance(started + 9_500 - t.time.now());
    const nine = await t.read('elapsedTime 9');
    assert.equal((JSON.parse(nine.body) as Obj[])[0]!['elapsedTime'], '9');
    assert.equal((await t.read('still 9')).kind, 'reused');
    t.time.advance(1_000);
    const ten = await t.read('elapsedTime 10');
    assert.equal(ten.kind, 'assembled');
    assert.equal((JSON.parse(ten.body) as Obj[])[0]!['elapsedTime'], '10');
    t.time.advance(500);
    assert.equal((await t.read('10.5 s: same width')).kind, 'patched');

    // monitorResponse: no sample for the command timeout (60 s) -> -1; a new sample -> 0.
    t.time.advance(61_000);
    const stale = await t.read('no sample for 61 s');
    assert.equal(stale.kind, 'assembled');
    assert.deepEqual((JSON.parse(stale.body) as Obj[]).map((r) => r['monitorResponse']), ['-1', '-1', '-1']);
    t.time.advance(1);
    assert.equal((await t.read('still stale')).kind, 'patched');
    t.put(3);
    const back = await t.read('a new sample (not rebuilt yet): responding again', false);
    assert.equal(back.kind, 'assembled');
    assert.deepEqual((JSON.parse(back.body) as Obj[]).map((r) => r['monitorResponse']), ['0', '0', '0']);

    // sampleTime (seconds of the monotonic clock, 6 decimals) gains a digit at 1000 s.
    t.vms.refreshReports();
    await t.vms.reportsSettled();
    t.time.advance(999_999 - t.time.now());
    const before = await t.read('sampleTime 999.999000');
    assert.match(before.body, /"sampleTime":"999\.999000"/);
    t.time.advance(2);
    const after = await t.read('sampleTime 1000.001000');
    assert.equal(after.kind, 'assembled');
    assert.match(after.body, /"sampleTime":"1000\.001000"/);
    t.time.advance(1);
    assert.equal((await t.read('1000.002000')).kind, 'patched');
  });
});

void test('a kept buffer still held (a connection writing it, a reply never handed on) is never written to: the read gets a copy', async () => {
  await withVms(3, async (t) => {
    await t.read('first');
    // A connection still has this reply to write: it holds the buffer (chunked-writer.ts retains it).
    const raw = await t.vms.reportsJson();
    const writing = raw.encode(PREFIX, '}');
    t.pool.retain(writing);
    t.pool.release(writing);
    const snapshot = Buffer.from(writing);
    for (let i = 0; i < 3; i++) {
      t.time.advance(7);
      const r = await t.read(`read ${i} while the first is written`);
      assert.equal(r.kind, i === 0 ? 'copied' : 'patched', 'a copy first, then that copy (held by nobody) in place');
      assert.notEqual(r.bytes.buffer, writing.buffer, 'never the buffer being written');
      assert.ok(writing.equals(snapshot), 'the bytes being written did not change');
    }
    // The write finished: the buffer goes back to the pool (it is no longer the kept one).
    const returned = t.pool.describe().returned;
    t.pool.release(writing);
    assert.equal(t.pool.describe().returned, returned + 1);

    // A reply nobody hands on (a batch, an HTTP reply keep theirs): its text stays what it was.
    const kept = await t.vms.reportsJson();
    const text = kept.text;
    t.time.advance(5);
    assert.equal((await t.read('after a reply that was never delivered')).kind, 'copied');
    assert.equal(kept.text, text);
    assert.equal(JSON.stringify(JSON.parse(text)), text);
    t.time.advance(5);
    assert.equal((await t.read('the copy is the kept one now')).kind, 'patched');
  });
});

void test('a filtered read (vmList) and VM.getStats keep their own path and never touch the kept reply', async () => {
  await withVms(3, async (t) => {
    await t.read('first');
    const state = t.whole();
    const one = (await t.vms.reportsJson([t.list[1]!.vmId])).text;
    assert.equal(one, JSON.stringify([t.vms.reportOf(t.list[1]!.vmId)]));
    assert.deepEqual(t.whole(), state);
    t.time.advance(2);
    assert.equal((await t.read('after the filtered read')).kind, 'patched');
  });
});

for (const chunked of [false, true]) {
  void test(`through a connection's output (${chunked ? 'chunked' : 'written at once'}): a reply whose write callback has not run is never patched; later reads get a copy`, async () => {
    // Bodies up to 64 KiB are copied into their frame (stomp-frame.ts): enough VMs for one that is not.
    await withVms(60, async (t) => {
      await t.read('first');
      const sink = new LazySink();
      const turns: (() => void)[] = [];
      const out = new ChunkedWriter(sink, { connectionId: 1, leases: t.pool, defer: (fn) => turns.push(fn), ...(chunked ? { chunkBytes: 1024, directMaxBytes: 1024 } : {}) });
      const head = messageHead('jms.topic.vdsm_responses', 'r');
      // As rpc-server: the body encoded in place, the frame handed to the writer, the builder's reference released.
      const send = async (): Promise<Buffer> => {
        const encoded = encodeRawReply({ jsonrpc: '2.0', id: 'x', result: await t.vms.reportsJson() }, 1 << 30)!;
        const frame = encodeMessagePartsWith(head, encoded.chunks);
        const expected = Buffer.concat(frame.map((b) => Buffer.from(b)));
        out.write(frame);
        t.pool.release(encoded.chunks);
        return expected;
      };
      const first = await send();
      assert.ok(first.length > 64 * 1024);
      const kinds: Kind[] = [];
      for (let i = 0; i < 3; i++) {
        t.time.advance(3);
        kinds.push((await t.read(`read ${i} while the first reply is unwritten`)).kind);
      }
      assert.deepEqual(kinds, ['copied', 'patched', 'patched']);
      while (sink.waiting || turns.length > 0) {
        if (sink.waiting) sink.complete();
        else turns.shift()!();
      }
      assert.ok(sink.bytes.equals(first), 'the socket took the first reply as it was when written');
      t.time.advance(3);
      assert.equal((await t.read('after the write')).kind, 'patched');
    });
  });
}

void test('the per-VM template checks are skipped only while nothing they look at changed: a pause code alone, a guest view aging with time alone', async () => {
  // A guest agent counts as responsive for 200 ms after its last message (vdsm: 120 s), so its view ages
  // within a few reads and no read-time value changes width meanwhile.
  const t = await setup(3, { responsiveMs: 200 });
  try {
    await t.sampled(1);
    t.time.advance(1_000);
    await t.sampled(2);
    const settle = async (what: string): Promise<void> => {
      await t.read(`${what}: assembled`);
      assert.equal((await t.read(`${what}: checked`)).kind, 'reused');
      const n = t.whole().stamped;
      assert.equal((await t.read(`${what}: stamped`)).kind, 'reused');
      assert.equal(t.whole().stamped, n + 1, `${what}: the checks were skipped`);
    };
    t.channels.attach(t.list[1]!.vmId, '/run/ga.sock');
    t.channels.apply([{ vmId: t.list[1]!.vmId, lastMessageAt: t.time.now(), guestUp: true, fields: { username: '"alice"' } }]);
    t.list[0]!.state.paused('NOERR');
    await settle('VM 0 paused, VM 1 with a guest agent');
    // The pause code changes, the status does not.
    assert.equal(t.list[0]!.state.paused('EIO'), false, 'still Paused: no status change');
    const eio = await t.read('pause code EIO');
    assert.equal(eio.kind, 'assembled');
    assert.equal((JSON.parse(eio.body) as Obj[])[0]!['pauseCode'], 'EIO');
    await settle('after the pause code');
    assert.equal((JSON.parse((await t.read('agent responsive')).body) as Obj[])[1]!['username'], 'alice');
    // Nothing but the clock moves: 250 ms later the agent is no longer responsive, and the next read says so.
    const stamped = t.whole().stamped;
    t.time.advance(250);
    const aged = await t.read('guest view aged');
    assert.equal(aged.kind, 'assembled');
    assert.equal(t.whole().stamped, stamped);
    assert.equal((JSON.parse(aged.body) as Obj[])[1]!['username'], 'Unknown');
  } finally {
    await t.cleanup();
  }
});

void test('a new sample: reads during its rebuild serve the kept reply whole (every VM its previous sample), the walk then assembles the new one off the read path; a kept reply stale for longer than 2 s is not served', async () => {
  // 24 VMs, four per walk slice (the slice clock ticks once per reading): the walk is stepped by the test.
  const gate = new SliceGate();
  let tick = 0;
  const t = await setup(24, { reportSlices: { yieldToLoop: gate.yieldToLoop, now: () => tick++, sliceMs: 4 } });
  try {
    const sampled = async (cpu: number): Promise<void> => {
      t.put(cpu);
      t.vms.refreshReports();
      await gate.toEnd(t.vms);
    };
    await sampled(1);
    t.time.advance(500);
    await sampled(2);
    const fresh = await t.read('both samples rebuilt');
    assert.equal(fresh.kind, 'reused', 'served from the reply the walk assembled');
    assert.equal(t.whole().assembled, 0, 'no read assembled');
    t.time.advance(100);
    const old = await t.read('just before the next sample');
    assert.equal(old.kind, 'patched');

    // Sample 3, its walk one slice in (some VMs rebuilt, most not): a read, at the same clock, is the
    // previous reply byte for byte, and builds nothing.
    t.put(3);
    t.vms.refreshReports();
    await gate.step(t.vms);
    const reached = t.vms.describeReports().refresh.position;
    assert.ok(reached > 0 && reached < t.list.length, `one slice rebuilt some VMs, not all (${reached})`);
    const { builds } = t.vms.describeReports().cache;
    const before = t.whole();
    assert.equal(t.deliver(await t.vms.reportsJson()).body, old.body, 'every VM its previous sample, whole');
    assert.equal(t.vms.describeReports().cache.builds, builds);
    assert.equal(t.whole().stale, before.stale + 1);
    assert.equal(t.whole().assembled, before.assembled);
    // A state change is never stale: the VM's text is rebuilt by the read, which assembles.
    t.list[t.list.length - 1]!.state.paused('EIO');
    const paused = JSON.parse(t.deliver(await t.vms.reportsJson()).body) as Obj[];
    assert.equal(paused[t.list.length - 1]!['status'], VmStatus.PAUSED);
    assert.equal(t.whole().assembled, before.assembled + 1);
    // The walk ends by assembling the reply: the next read shows sample 3 for every VM, without assembling.
    await gate.toEnd(t.vms);
    const assembled = t.whole().assembled;
    const third = await t.read('walk ended: sample 3 everywhere');
    assert.notEqual(third.kind, 'assembled');
    assert.equal(t.whole().assembled, assembled);
    assert.notEqual(third.body, old.body);

    // A walk that does not get to its end (held, here by the test) leaves the kept reply stale: it is
    // served for 2 s from the first read that found it so, then reads assemble (as they did before).
    t.put(4);
    t.vms.refreshReports();
    await gate.step(t.vms);
    t.time.advance(10);
    assert.equal(t.deliver(await t.vms.reportsJson()).body.length, third.body.length);
    t.time.advance(1_990);
    const stillKept = t.whole();
    t.deliver(await t.vms.reportsJson());
    assert.equal(t.whole().assembled, stillKept.assembled, 'stale for 1,990 ms: still served');
    t.time.advance(11);
    const late = await t.read('stale for 2,001 ms', false);
    assert.equal(late.kind, 'assembled');
    assert.equal(t.whole().staleAssembled, stillKept.staleAssembled + 1);
    await gate.toEnd(t.vms);
    await t.read('walk ended after all');
  } finally {
    await t.cleanup();
  }
});
