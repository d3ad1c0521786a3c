// The vmchannels thread for real: its own worker thread, a unix socket played by the test as QEMU's end
// with a guest behind it. What a hostile guest sends (garbage, invalid UTF-8, never-ending lines, a 100 MB
// line) costs the thread bounded memory, is logged once per kind, and the channel keeps working; commands
// reach the guest; updates reach the main thread in batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelThread } from '../../src/guest/channel-thread.js';
import type { ChannelUpdate } from '../../src/guest/channel-protocol.js';
import { OvirtChannels } from '../../src/guest/ovirt-channels.js';
import { monotonicClock, realTimers } from '../../src/runtime/clock.js';
import { captureLog } from '../runtime/capture-log.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Write everything, respecting backpressure (the thread pauses a guest that floods). */
async function send(sock: Socket, data: Buffer | string): Promise<void> {
  if (!sock.write(data)) await new Promise((r) => sock.once('drain', r));
}

void test('a hostile guest costs bounded memory and one log line per kind; the channel keeps working', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-chthread-'));
  const path = join(dir, 'ovirt-guest-agent.0');
  let guest: Socket | undefined;
  const fromHost: string[] = [];
  const server = createServer((s) => {
    guest = s;
    s.setEncoding('utf8');
    s.on('data', (d: string) => fromHost.push(...d.split('\n').filter(Boolean)));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  const batches: ChannelUpdate[][] = [];
  const { log, lines } = captureLog('info');
  const late: { channels?: OvirtChannels } = {};
  const thread = new ChannelThread({
    config: {
      timeoutMs: 30_000, flushMs: 20, flushBudgetBytes: 512 * 1024, maxMessageBytes: 1024 * 1024, tickMs: 1000,
      // Generous: this test is about memory, not the per-guest rate limit (covered in channel-listener).
      readBudget: { bytesPerSecond: 1024 ** 3, burstBytes: 1024 ** 3 },
    },
    onUpdates: (items) => { batches.push(items); late.channels?.apply(items); },
  });
  const channels = (late.channels = new OvirtChannels({ transport: thread, clock: monotonicClock, timers: realTimers, log }));
  thread.start();
  try {
    channels.attach('vm-1', path);
    await until(() => guest !== undefined && fromHost.length > 0, 'the thread connects and sends refresh');
    assert.deepEqual(JSON.parse(fromHost[0]!), { apiVersion: 3, __name__: 'refresh' });
    await send(guest!, '{"__name__":"heartbeat","free-ram":"100","apiVersion":3}\n{"__name__":"host-name","name":"g1"}\n');
    await until(() => channels.view('vm-1')!.info().guestName === 'g1', 'host-name applied');
    assert.equal(channels.isResponsive('vm-1'), true);

    const memory: number[] = [];
    const sample = async (): Promise<void> => {
      const d = await thread.describe();
      if (d === undefined) return;
      memory.push(d.heapUsed);
      assert.ok(d.channels[0]!.buffered <= 1024 * 1024, `held ${d.channels[0]!.buffered} bytes of a message`);
    };
    await sample();
    const before = memory[0]!;
    for (let round = 0; round < 2; round++) {
      await send(guest!, 'this is not json\n');
      await send(guest!, Buffer.concat([Buffer.from('{"__name__":"os-version","version":"ok-'), Buffer.from([0xff, 0xc0, 0x80]), Buffer.from('"}\n')]));
      await send(guest!, '{"__name__":"make-coffee"}\n{"__name__":"heartbeat"}\n[1,2]\n');
      // A 100 MB line, 1 MiB at a time, sampling the thread's memory as it goes.
      const mib = Buffer.alloc(1024 * 1024, 0x78);
      for (let i = 0; i < 100; i++) {
        await send(guest!, mib);
        if (i % 25 === 0) await sample();
      }
      await send(guest!, '\n');
      // Never-ending lines of 64 KiB chunks that do end, just over the limit each.
      for (let i = 0; i < 3; i++) await send(guest!, `${'y'.repeat(1024 * 1024 + 10)}\n`);
    }
    await send(guest!, '{"__name__":"host-name","name":"after-the-flood"}\n');
    await until(() => channels.view('vm-1')!.info().guestName === 'after-the-flood', 'the channel still works after 200 MB of garbage');
    await sample();
    assert.equal(channels.view('vm-1')!.info().guestOs, 'ok-\ufffd\ufffd\ufffd', 'invalid UTF-8 replaced');
    const peak = Math.max(...memory);
    assert.ok(peak - before < 64 * 1024 * 1024, `thread heap grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB during 200 MB of garbage`);
    const problems = lines.filter((l) => l['vmId'] === 'vm-1' && typeof l['kind'] === 'string').map((l) => l['kind']);
    assert.deepEqual(problems.sort(), ['invalid', 'json', 'not-object', 'oversize', 'unknown'], 'one line per kind, however often it happened');
    assert.equal(channels.problemCount('vm-1', 'oversize'), 8, '2 x (one 100 MB line + 3 lines just over 1 MiB)');
    assert.equal(channels.problemCount('vm-1', 'json'), 2);
    const updates = batches.reduce((n, b) => n + b.length, 0);
    assert.ok(batches.length < 200, `${batches.length} posts to the main thread for ${updates} channel updates: batched`);

    // Commands go out on the same socket.
    const r = await channels.send('vm-1', { name: 'lock-screen' });
    assert.deepEqual(r, { ok: true });
    await until(() => fromHost.includes('{"__name__":"lock-screen"}'), 'the guest got lock-screen');
    channels.detach('vm-1');
    await until(() => guest!.destroyed || guest!.readyState === 'closed', 'detach closes the socket');
  } finally {
    await thread.stop();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a guest that hangs up is reconnected and its fields are sent again; one line per connection change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-chthread-'));
  const path = join(dir, 'c');
  const peers: Socket[] = [];
  const server = createServer((s) => { peers.push(s); s.on('error', () => undefined); });
  await new Promise<void>((r) => server.listen(path, r));
  const { log, lines } = captureLog('info');
  const late: { channels?: OvirtChannels } = {};
  const thread = new ChannelThread({
    config: { timeoutMs: 30_000, flushMs: 20, flushBudgetBytes: 512 * 1024, maxMessageBytes: 1024 * 1024, tickMs: 100, readBudget: { bytesPerSecond: 1e6, burstBytes: 2e6 } },
    onUpdates: (items) => late.channels?.apply(items),
  });
  const channels = (late.channels = new OvirtChannels({ transport: thread, clock: monotonicClock, timers: realTimers, log }));
  thread.start();
  try {
    channels.attach('vm-2', path);
    await until(() => peers.length === 1, 'connect');
    peers[0]!.write('{"__name__":"host-name","name":"first"}\n');
    await until(() => channels.view('vm-2')!.info().guestName === 'first', 'first name');
    peers[0]!.destroy();
    await until(() => peers.length === 2, 'reconnect after the hang-up');
    peers[1]!.write('{"__name__":"host-name","name":"first"}\n{"__name__":"fqdn","fqdn":"f.example"}\n');
    await until(() => channels.view('vm-2')!.info().guestFQDN === 'f.example', 'data after reconnecting');
    const conn = lines.filter((l) => l['vmId'] === 'vm-2' && /channel (connected|disconnected)/.test(String(l['msg']))).map((l) => l['msg']);
    assert.deepEqual(conn, ['ovirt-guest-agent channel connected', 'ovirt-guest-agent channel disconnected; reconnecting', 'ovirt-guest-agent channel connected']);
  } finally {
    await thread.stop();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a vmchannels thread that dies is restarted and every channel registered again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-chthread-'));
  const path = join(dir, 's');
  process.env['VDSM_TEST_CRASH_MARKER'] = join(dir, 'crashed');
  const peers: Socket[] = [];
  const server = createServer((s) => { peers.push(s); s.on('error', () => undefined); });
  await new Promise<void>((r) => server.listen(path, r));
  const restarts: unknown[] = [];
  const thread = new ChannelThread({
    config: { timeoutMs: 30_000, flushMs: 20, flushBudgetBytes: 512 * 1024, maxMessageBytes: 1024 * 1024, tickMs: 100, readBudget: { bytesPerSecond: 1e6, burstBytes: 2e6 } },
    workerUrl: new URL('../fixtures/channel-worker-crash-once.js', import.meta.url),
    onUpdates: () => undefined,
    onRestart: (err) => restarts.push(err),
  });
  thread.start();
  try {
    thread.add('vm-3', path, 2);
    await until(() => restarts.length === 1, 'the first thread dies on the registration');
    assert.match(String((restarts[0] as Error).message), /exited with code 1/);
    await until(() => peers.length === 1, 'the new thread registers the channel and connects');
    assert.equal(thread.restarts, 1);
  } finally {
    delete process.env['VDSM_TEST_CRASH_MARKER'];
    await thread.stop();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
