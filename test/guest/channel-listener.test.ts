// vdsm's vmchannels behaviour on real unix sockets (the test plays QEMU: it listens, the listener is the
// client), with time moved by hand: connect, data, reconnect after a hang-up, cool-down after repeated
// failures, silence timeouts repeated while silent, and the read budget pausing a flooding guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelListener, COOLDOWN_RECONNECT_THRESHOLD, type ChannelHandler } from '../../src/guest/channel-listener.js';
import { ManualTime } from '../support/manual-time.js';

async function until(cond: () => boolean, what: string): Promise<void> {
  // Real socket events: wait for them (bounded), never for time.
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

class Recorder implements ChannelHandler {
  events: string[] = [];
  chunks: Buffer[] = [];
  received = 0;
  write: ((b: Buffer) => boolean) | undefined;
  data(chunk: Buffer): void { this.chunks.push(chunk); this.received += chunk.length; }
  connected(write: (b: Buffer) => boolean): void { this.events.push('connected'); this.write = write; }
  disconnected(reason: string): void { this.events.push(`disconnected:${reason}`); this.write = undefined; }
  timeout(): void { this.events.push('timeout'); }
  connectFailed(n: number): void { this.events.push(`failed:${n}`); }
  throttled(ms: number): void { this.events.push(`throttled:${ms}`); }
  count(prefix: string): number { return this.events.filter((e) => e.startsWith(prefix)).length; }
}

async function qemuSide(path: string): Promise<{ server: Server; peers: Socket[]; close: () => Promise<void> }> {
  const peers: Socket[] = [];
  const server = createServer((s) => { peers.push(s); s.on('error', () => undefined); });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, peers, close: () => new Promise<void>((r) => { for (const p of peers) p.destroy(); server.close(() => r()); }) };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-chan-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

void test('connects at once, delivers data both ways, reconnects on the next tick after a hang-up', () => withDir(async (dir) => {
  const path = join(dir, 'ovirt.sock');
  const q = await qemuSide(path);
  const time = new ManualTime(0);
  const l = new ChannelListener({ connect: (p) => createConnection({ path: p }), clock: time, timers: time, timeoutMs: 30_000 });
  const h = new Recorder();
  l.add('vm1', path, h);
  await until(() => h.events.includes('connected') && q.peers.length === 1, 'connect');
  assert.equal(h.write!(Buffer.from('{"__name__":"refresh"}\n')), true);
  const got: Buffer[] = [];
  q.peers[0]!.on('data', (d: Buffer) => got.push(d));
  q.peers[0]!.write('hello\n');
  await until(() => Buffer.concat(h.chunks).toString() === 'hello\n', 'guest data');
  await until(() => got.length > 0, 'guest got the command');
  assert.equal(Buffer.concat(got).toString(), '{"__name__":"refresh"}\n');
  q.peers[0]!.destroy();
  await until(() => h.count('disconnected') === 1, 'hang-up seen');
  time.advance(1000);
  l.tick();
  await until(() => h.count('connected') === 2 && q.peers.length === 2, 'reconnect');
  assert.equal(l.describe()[0]!.connects, 2);
  l.stop();
  await q.close();
}));

void test('data events carry the guest\'s bytes and reset the silence clock; silence gives a timeout every timeoutMs', () => withDir(async (dir) => {
  const path = join(dir, 's');
  const q = await qemuSide(path);
  const time = new ManualTime(0);
  const l = new ChannelListener({ connect: (p) => createConnection({ path: p }), clock: time, timers: time, timeoutMs: 30_000 });
  const h = new Recorder();
  l.add('vm1', path, h);
  await until(() => q.peers.length === 1 && h.events.includes('connected'), 'connect');
  time.advance(29_000);
  q.peers[0]!.write('beat\n');
  await until(() => Buffer.concat(h.chunks).toString() === 'beat\n', 'data');
  time.advance(29_999);
  l.tick();
  assert.equal(h.count('timeout'), 0, 'the read 29 s in reset the clock');
  time.advance(1);
  l.tick();
  assert.equal(h.count('timeout'), 1);
  time.advance(10_000);
  l.tick();
  assert.equal(h.count('timeout'), 1);
  time.advance(20_000);
  l.tick();
  assert.equal(h.count('timeout'), 2, 'again every timeoutMs while silent');
  l.stop();
  await q.close();
}));

void test('after 5 failed connects the channel waits timeoutMs between attempts; success resets the count', () => withDir(async (dir) => {
  const path = join(dir, 'later.sock');
  const time = new ManualTime(0);
  let attempts = 0;
  const l = new ChannelListener({ connect: (p) => { attempts++; return createConnection({ path: p }); }, clock: time, timers: time, timeoutMs: 30_000 });
  const h = new Recorder();
  l.add('vm1', path, h);
  await until(() => h.count('failed') === 1, 'first failure (no socket yet)');
  for (let i = 2; i <= COOLDOWN_RECONNECT_THRESHOLD; i++) {
    time.advance(1000);
    l.tick();
    await until(() => h.count('failed') === i, `failure ${i}`);
  }
  assert.equal(attempts, COOLDOWN_RECONNECT_THRESHOLD);
  time.advance(1000);
  l.tick();
  time.advance(28_000);
  l.tick();
  assert.equal(attempts, COOLDOWN_RECONNECT_THRESHOLD, 'cooling down: no attempt for timeoutMs after the last one');
  const q = await qemuSide(path);
  time.advance(1000);
  l.tick();
  await until(() => h.count('connected') === 1, 'connect after the cool-down');
  assert.equal(l.describe()[0]!.failures, 0);
  l.stop();
  await q.close();
}));

void test('a flooding guest is paused by the read budget and resumed when it refills; the bytes all arrive', () => withDir(async (dir) => {
  const path = join(dir, 'flood.sock');
  const q = await qemuSide(path);
  const time = new ManualTime(0);
  const l = new ChannelListener({
    connect: (p) => createConnection({ path: p }), clock: time, timers: time, timeoutMs: 30_000,
    readBudget: { bytesPerSecond: 100_000, burstBytes: 200_000 },
  });
  const h = new Recorder();
  l.add('vm1', path, h);
  await until(() => q.peers.length === 1 && h.events.includes('connected'), 'connect');
  q.peers[0]!.write(Buffer.alloc(1_000_000, 0x61));
  await until(() => h.count('throttled') === 1, 'throttled');
  const at = h.received;
  assert.ok(at >= 200_000 && at < 1_000_000, `read ${at} bytes before pausing`);
  assert.equal(l.describe()[0]!.paused, true);
  for (let i = 0; i < 40 && h.received < 1_000_000; i++) {
    const before = h.received;
    const throttles = h.count('throttled');
    time.advance(2_000);
    await until(() => h.count('throttled') > throttles || h.received === 1_000_000, `round ${i}: resumed, read more, throttled again or done`);
    assert.ok(h.received > before);
  }
  assert.equal(h.received, 1_000_000);
  assert.ok(h.count('throttled') >= 2);
  l.stop();
  await q.close();
}));

void test('remove closes the socket; re-adding replaces the channel; stop closes all', () => withDir(async (dir) => {
  const path = join(dir, 'r.sock');
  const q = await qemuSide(path);
  const time = new ManualTime(0);
  const l = new ChannelListener({ connect: (p) => createConnection({ path: p }), clock: time, timers: time, timeoutMs: 30_000 });
  const h = new Recorder();
  l.add('vm1', path, h);
  await until(() => q.peers.length === 1, 'connect');
  let closed = 0;
  q.peers[0]!.on('close', () => closed++);
  assert.equal(l.remove('vm1'), true);
  await until(() => closed === 1, 'closed by remove');
  assert.equal(h.count('disconnected'), 0, 'a removed channel calls nothing');
  l.add('vm1', path, h);
  l.add('vm1', path, h);
  await until(() => q.peers.length === 3, 'two more connects');
  assert.equal(l.size, 1);
  l.stop();
  assert.equal(l.size, 0);
  await q.close();
}));
