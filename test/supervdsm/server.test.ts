// The supervdsm server on a real unix socket with real worker threads and child processes: many calls
// in flight, a stuck child or a stuck worker step never delaying other calls and failing at its
// deadline, every kind of bad input answered with its code while the helper serves on, and peers of
// another uid refused by SO_PEERCRED.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import { chmod } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { s } from '../../src/api/schema.js';
import type { Executor } from '../../src/runtime/executor/executor.js';
import { encodeFrame } from '../../src/supervdsm/frame-decoder.js';
import { ping, status } from '../../src/supervdsm/functions/ping.js';
import { prepareVmChannel } from '../../src/supervdsm/functions/vm-channel.js';
import { MessageCodec } from '../../src/supervdsm/protocol.js';
import { defineFunction, p } from '../../src/supervdsm/registry.js';
import { codeOf, RawPeer, startHelper, type HelperHarness } from './harness.js';

/** These tests create users, run supervdsmd or act as other uids: root only (CI runs as root). */
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root';

let executor: Executor | undefined;
const echo = defineFunction<{ value?: unknown }, unknown>({ name: 'echo', summary: 'test: returns its value', params: { value: p.optional(s.any(), 'anything') }, run: (a) => Promise.resolve(a.value ?? null) });
// sleep(1) stands in for a program that never finishes (a dmidecode on a wedged firmware, a mount of a dead server).
const stuckChild = defineFunction<Record<string, never>, unknown>({ name: 'stuckChild', summary: 'test: a child that does not end', params: {}, run: async (_a, ctx) => (await ctx.run('dmidecode', ['3600'])).exitCode });
// A worker step blocked in native code (nanosleep) for 5 s: terminate() cannot cut it; its thread
// lingers that long after the discard, then exits (so the test process can end).
const stuckStep = defineFunction<Record<string, never>, unknown>({
  name: 'stuckStep', summary: 'test: a worker step that does not end', params: {},
  run: (_a, ctx) => executor!.dispatch('test.sleepNative', { ms: 5_000 }, { timeoutMs: ctx.remainingMs(), discard: true }),
});
const big = defineFunction<{ bytes: number }, string>({ name: 'big', summary: 'test: a large result', params: { bytes: p.required(s.int(), 'size') }, run: (a) => Promise.resolve('x'.repeat(a.bytes)) });
const buggy = defineFunction<Record<string, never>, never>({ name: 'buggy', summary: 'test: a bug', params: {}, run: () => { throw new TypeError('a bug in a function'); } });

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; !cond(); i++) {
    if (i > 3000) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

void describe('supervdsm server', () => {
  let h: HelperHarness;
  before(async () => {
    h = await startHelper({
      functions: [ping, status, echo, stuckChild, stuckStep, big, buggy, prepareVmChannel],
      commands: { dmidecode: '/usr/bin/sleep' },
      maxFrameBytes: 64 * 1024,
    });
    executor = h.executor;
  });
  after(() => h.close());

  void it('the socket is created 0660 and says hello with the protocol version, its pid and its functions', async () => {
    const peer = await RawPeer.connect(h.path);
    const hello = peer.messages[0]!;
    assert.equal(hello.type, 'hello');
    if (hello.type === 'hello') {
      assert.equal(hello.version, 1);
      assert.equal(hello.pid, process.pid);
      assert.ok(hello.methods.includes('ping'));
    }
    peer.close();
  });

  void it('many calls in flight: fast ones are answered while slow ones run, each by its own id', async () => {
    const peer = await RawPeer.connect(h.path);
    peer.call(1, 'stuckChild', {}, 60_000);
    peer.call(2, 'stuckStep', {}, 60_000);
    for (let id = 3; id < 23; id++) peer.call(id, 'echo', { value: id });
    for (let id = 3; id < 23; id++) assert.deepEqual(await peer.answer(id), { type: 'result', id, value: id });
    assert.equal(peer.messages.some((m) => m.type !== 'hello' && (m.id === 1 || m.id === 2)), false, 'the stuck calls are still running');
    assert.equal(h.server.state()['inFlight'], 2);
    const killedBefore = h.runner.state().killed;
    peer.close();
    // The connection went away: its calls are aborted and the child's process group killed.
    await until(() => h.runner.state().killed > killedBefore && h.runner.state().running === 0, 'child killed on disconnect');
    await until(() => h.server.state()['inFlight'] === 0, 'calls released');
  });

  void it('a stuck child and a stuck worker step fail at their deadline with ERR_SVDSM_TIMEOUT; ping is served meanwhile', async () => {
    const discarded = new Promise<Record<string, unknown>>((resolve) => {
      const fn = (m: unknown): void => {
        const e = m as Record<string, unknown>;
        if (e['executor'] === h.executor.name && e['op'] === 'test.sleepNative') {
          diagnostics_channel.unsubscribe('vdsm:executor:discard', fn);
          resolve(e);
        }
      };
      diagnostics_channel.subscribe('vdsm:executor:discard', fn);
    });
    const peer = await RawPeer.connect(h.path);
    const killedBefore = h.runner.state().killed;
    peer.call(1, 'stuckChild', {}, 300);
    peer.call(2, 'stuckStep', {}, 300);
    peer.call(3, 'ping');
    assert.deepEqual(await peer.answer(3), { type: 'result', id: 3, value: true });
    const [a1, a2] = await Promise.all([peer.answer(1), peer.answer(2)]);
    assert.equal(codeOf(a1), 'ERR_SVDSM_TIMEOUT');
    assert.equal(codeOf(a2), 'ERR_SVDSM_TIMEOUT');
    assert.ok(h.runner.state().killed > killedBefore, 'the child was killed');
    assert.equal((await discarded)['op'], 'test.sleepNative', 'the stuck worker was discarded (and is replaced)');
    peer.call(4, 'echo', { value: 'still serving' });
    assert.deepEqual(await peer.answer(4), { type: 'result', id: 4, value: 'still serving' });
    peer.close();
  });

  void it('refusals carry stable codes: unknown function, unknown or mistyped argument, a path outside the roots', async () => {
    const peer = await RawPeer.connect(h.path);
    peer.call(1, 'rm_rf', {});
    peer.call(2, 'echo', { value: 1, extra: 2 });
    peer.call(3, 'big', { bytes: 'many' });
    peer.call(4, 'prepareVmChannel', { socketFile: '/etc/shadow' });
    peer.call(5, 'prepareVmChannel', { socketFile: '/nonexistent/channels/../../../etc/shadow' });
    const codes = await Promise.all([1, 2, 3, 4, 5].map(async (id) => codeOf(await peer.answer(id))));
    assert.deepEqual(codes, ['ERR_SVDSM_UNKNOWN_METHOD', 'ERR_SVDSM_INVALID_ARGUMENT', 'ERR_SVDSM_INVALID_ARGUMENT', 'ERR_SVDSM_PATH_NOT_ALLOWED', 'ERR_SVDSM_PATH_NOT_ALLOWED']);
    const a4 = await peer.answer(4);
    if (a4.type === 'error') assert.deepEqual(a4.error.context?.['roots'], ['/nonexistent/channels']);
    peer.call(6, 'buggy');
    const a6 = await peer.answer(6);
    assert.equal(codeOf(a6), 'ERR_SVDSM_INTERNAL');
    await h.logged((l) => l.msg === 'call failed' && l['method'] === 'buggy' && l.level === 50);
    peer.call(7, 'big', { bytes: 70 * 1024 });
    assert.equal(codeOf(await peer.answer(7)), 'ERR_SVDSM_RESULT_TOO_LARGE');
    peer.close();
  });

  void it('malformed frames are answered with ERR_SVDSM_BAD_FRAME / BAD_REQUEST and the connection goes on', async () => {
    const peer = await RawPeer.connect(h.path);
    peer.write(encodeFrame(Buffer.from([0xd9, 0x10, 0x41]))); // a string of 16 bytes holding 1
    peer.write(encodeFrame(Buffer.from([0x92, 0x01]))); // an array cut short
    peer.write(encodeFrame(new MessageCodec().encode({ type: 'call', id: 5, method: 'echo', args: {}, timeoutMs: 1000 }).subarray(4, -1)));
    peer.write(encodeFrame(Buffer.from([0xa4, 0x70, 0x69, 0x6e, 0x67]))); // the string "ping"
    const raw = new MessageCodec();
    peer.write(raw.encode({ type: 'call', id: 9, method: 'echo', args: { value: 1 }, timeoutMs: 0 } as never));
    peer.call(10, 'stuckChild', {}, 60_000);
    peer.call(10, 'echo', { value: 'dup' });
    await until(() => peer.messages.length >= 7, 'seven answers');
    const errors = peer.messages.slice(1).map((m) => `${m.type === 'error' ? m.id : '-'}:${codeOf(m)}`);
    assert.deepEqual(errors.slice(0, 6), ['0:ERR_SVDSM_BAD_FRAME', '0:ERR_SVDSM_BAD_FRAME', '0:ERR_SVDSM_BAD_FRAME', '0:ERR_SVDSM_BAD_REQUEST', '9:ERR_SVDSM_BAD_REQUEST', '10:ERR_SVDSM_BAD_REQUEST']);
    peer.call(11, 'ping');
    assert.deepEqual(await peer.answer(11), { type: 'result', id: 11, value: true });
    peer.close();
  });

  void it('an oversized length, an empty frame, a truncated frame: answered, that connection closed, the helper serves on', async () => {
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(64 * 1024 + 1);
    for (const [bytes, kind] of [[oversized, 'frame-too-large'], [Buffer.alloc(4), 'empty-frame'], [encodeFrame(Buffer.from('abcdef')).subarray(0, 7), 'truncated']] as const) {
      const peer = await RawPeer.connect(h.path);
      peer.write(bytes);
      if (kind === 'truncated') peer.socket.end(); // the peer stops mid-frame
      const answer = await peer.next((m) => m.type === 'error');
      assert.equal(codeOf(answer), 'ERR_SVDSM_BAD_FRAME');
      if (answer.type === 'error') assert.equal(answer.error.context?.['kind'], kind);
      await peer.closed;
    }
    const peer = await RawPeer.connect(h.path);
    peer.call(1, 'ping');
    assert.deepEqual(await peer.answer(1), { type: 'result', id: 1, value: true });
    peer.close();
  });

  void it('fuzz: random byte streams on 150 connections never take the helper down', async () => {
    const streams = fc.sample(fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { minLength: 1, maxLength: 6 }), 150);
    for (const [i, chunks] of streams.entries()) {
      const peer = await RawPeer.connect(h.path);
      // Half the streams start with a valid length prefix so the bytes reach the msgpack decoder.
      for (const c of chunks) peer.write(i % 2 === 0 ? encodeFrame(Buffer.from(c)) : Buffer.from(c));
      peer.socket.end();
      await peer.closed;
      for (const m of peer.messages.slice(1)) assert.ok(m.type === 'error' || m.type === 'result');
    }
    const peer = await RawPeer.connect(h.path);
    peer.call(1, 'status');
    const st = await peer.answer(1);
    assert.equal(st.type, 'result');
    if (st.type === 'result') assert.equal((st.value as { connections: unknown[] }).connections.length, 1, 'only this connection is left');
    peer.close();
  });
});

void describe('supervdsm server limits and peers', { skip: NEEDS_ROOT }, () => {
  let h: HelperHarness;
  before(async () => {
    h = await startHelper({ functions: [ping, stuckChild], commands: { dmidecode: '/usr/bin/sleep' }, maxCalls: 2 });
  });
  after(() => h.close());

  void it('calls beyond [supervdsm] max_calls fail at once with ERR_RESOURCE_EXHAUSTED', async () => {
    const peer = await RawPeer.connect(h.path);
    peer.call(1, 'stuckChild', {}, 60_000);
    peer.call(2, 'stuckChild', {}, 60_000);
    peer.call(3, 'stuckChild', {}, 60_000);
    assert.equal(codeOf(await peer.answer(3)), 'ERR_RESOURCE_EXHAUSTED');
    peer.close();
    await until(() => h.server.state()['inFlight'] === 0, 'slots released');
  });

  const connectAs = (uid: number, path: string): Promise<{ code: number | null; out: string; err: string }> => new Promise((resolve) => {
    const script = `const s=require('node:net').createConnection(${JSON.stringify(path)});let b=Buffer.alloc(0);
      s.on('data',d=>{b=Buffer.concat([b,d])});s.on('close',()=>{process.stdout.write(b.toString('hex'))});s.on('error',e=>{process.stderr.write(e.code);});`;
    execFile('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', process.execPath, '-e', script], { timeout: 30_000 }, (err, out, errOut) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out, err: errOut });
    });
  });

  void it('a peer of another uid: the socket mode stops it, and if the mode were wrong SO_PEERCRED refuses it, logged', async () => {
    await chmod(h.dir, 0o755);
    const denied = await connectAs(65534, h.path);
    assert.equal(denied.err, 'EACCES', 'mode 0660 root:root: the kernel refuses nobody');
    await chmod(h.path, 0o666); // a misconfiguration the uid check must catch
    const refused = await connectAs(65534, h.path);
    const bytes = Buffer.from(refused.out, 'hex');
    const msg = new MessageCodec().decode(bytes.subarray(4)) as { type: string; id: number; error: { code: string } };
    assert.deepEqual([msg.type, msg.id, msg.error.code], ['error', 0, 'ERR_SVDSM_PEER_REFUSED']);
    const line = await h.logged((l) => l.msg === 'refused a connection from a user that may not use supervdsm');
    assert.equal(line['peerUid'], 65534);
    assert.equal(line.level, 40);
    assert.equal((h.server.state()['stats'] as { refused: number }).refused, 1);
  });
});
