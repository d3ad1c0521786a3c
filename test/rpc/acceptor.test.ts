// The acceptor: protocol detection on real sockets, unknown protocols closed with a log line, the
// detection timeout (injected time), the bound on undetected sockets (the oldest makes room), socket
// activation. No test waits for time: acceptance is observed through the acceptor's own counters.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Acceptor, socketActivationFd } from '../../src/rpc/acceptor.js';
import { RawClient } from '../peers/raw-socket.js';
import { ManualTime } from '../support/manual-time.js';
import { capturingLogManager } from './silent-log.js';

/** An acceptor whose STOMP handler echoes and whose HTTP handler upper-cases (like vdsm's test detectors). */
async function echoAcceptor(opts: { timers?: ManualTime; host?: string; fd?: number; maxDetecting?: number } = {}) {
  const { logManager, lines } = capturingLogManager('info');
  const acceptor = new Acceptor({
    host: opts.host ?? '127.0.0.1',
    port: 0,
    log: logManager.get('test'),
    ...(opts.timers ? { timers: opts.timers, clock: opts.timers } : {}),
    ...(opts.fd !== undefined ? { fd: opts.fd } : {}),
    ...(opts.maxDetecting !== undefined ? { maxDetecting: opts.maxDetecting } : {}),
    onStomp: (s, head) => {
      s.write(head);
      s.on('data', (d: Buffer) => s.write(d));
    },
    onHttp: (s, head) => {
      s.write(head.toString('latin1').toUpperCase());
      s.on('data', (d: Buffer) => s.write(d.toString('latin1').toUpperCase()));
      s.resume();
    },
  });
  const { port } = await acceptor.start();
  return { acceptor, port, lines };
}

/** Resolves once the acceptor has taken `n` sockets in total (a real event: its accept counter). */
async function accepted(acceptor: Acceptor, n: number): Promise<void> {
  while ((acceptor.state() as { accepted: number }).accepted < n) await new Promise((r) => setImmediate(r));
}

void test('detected connections get every byte, the peeked ones included, for 5 concurrent clients', async () => {
  const { acceptor, port } = await echoAcceptor();
  try {
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => RawClient.connect(port)));
    clients.forEach((c, i) => c.write(i % 2 ? 'SEND\ntesting is fun\0' : 'GET /testing is fun\n'));
    await Promise.all(clients.map((c, i) => c.until((t) => t === (i % 2 ? 'SEND\ntesting is fun\0' : 'GET /TESTING IS FUN\n'))));
    clients.forEach((c) => c.close());
  } finally {
    await acceptor.close();
  }
});

void test('a minimal 10-byte CONNECT frame is detected at once (vdsm waits for 11 bytes)', async () => {
  const { acceptor, port } = await echoAcceptor();
  try {
    const c = await RawClient.connect(port);
    c.write('CONNECT\n\n\0');
    await c.until((t) => t === 'CONNECT\n\n\0');
    c.close();
  } finally {
    await acceptor.close();
  }
});

void test('an unknown protocol is closed with a log line naming the bytes', async () => {
  const { acceptor, port, lines } = await echoAcceptor();
  try {
    const c = await RawClient.connect(port);
    c.write('GARBAGE_PROTOCOL\n');
    await c.waitClosed();
    assert.ok(lines.some((l) => l['msg'] === 'Unrecognized protocol, closing' && String(l['head']).startsWith('GARBAGE_PRO')), JSON.stringify(lines));
    assert.equal((acceptor.state() as { unknown: number }).unknown, 1);
  } finally {
    await acceptor.close();
  }
});

void test('detection times out after 10 s of silence or of a partial command (slowloris); others keep working', async () => {
  const time = new ManualTime();
  const { acceptor, port } = await echoAcceptor({ timers: time });
  try {
    const silent = await RawClient.connect(port);
    const slow = await RawClient.connect(port);
    slow.write('CONN');
    await accepted(acceptor, 2);
    // The detection timers are armed once the sockets are accepted; the partial command is in flight:
    // what matters is that neither is closed before 10 s.
    time.advance(9999);
    assert.equal(silent.closed || slow.closed, false);
    const good = await RawClient.connect(port);
    good.write('SEND\n');
    await good.until((t) => t === 'SEND\n');
    time.advance(1);
    await Promise.all([silent.waitClosed(), slow.waitClosed()]);
    good.write('more');
    await good.until((t) => t === 'SEND\nmore');
    good.close();
    assert.equal((acceptor.state() as { timeouts: number }).timeouts, 2);
  } finally {
    await acceptor.close();
  }
});

void test('past the detection bound the oldest undetected socket makes room: a new client always gets in', async () => {
  const { acceptor, port, lines } = await echoAcceptor({ maxDetecting: 2, timers: new ManualTime() });
  try {
    const a = await RawClient.connect(port);
    await accepted(acceptor, 1);
    const b = await RawClient.connect(port);
    await accepted(acceptor, 2);
    const c = await RawClient.connect(port);
    await a.waitClosed();
    assert.equal(b.closed || c.closed, false);
    c.write('SEND\n');
    await c.until((t) => t === 'SEND\n');
    assert.ok(lines.some((l) => l['level'] === 40 && l['limit'] === 'detecting' && l['action'] === 'evicted'), JSON.stringify(lines));
    b.close();
    c.close();
  } finally {
    await acceptor.close();
  }
});

void test('socket activation: LISTEN_PID/LISTEN_FDS select fd 3; an inherited listening fd is served', async () => {
  assert.equal(socketActivationFd({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42), 3);
  assert.equal(socketActivationFd({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42), undefined);
  assert.equal(socketActivationFd({}, 42), undefined);
  // Stand-in for systemd: python binds a listening socket, puts it on fd 3, sets LISTEN_* and execs node,
  // which serves it through the Acceptor (an fd cannot be adopted twice inside one process).
  const acceptorUrl = new URL('../../src/rpc/acceptor.js', import.meta.url).href;
  const childCode = `
    import { Acceptor, socketActivationFd } from ${JSON.stringify(acceptorUrl)};
    import pino from 'pino';
    const fd = socketActivationFd(process.env, process.pid);
    if (fd === undefined) process.exit(9);
    const a = new Acceptor({ host: '::', port: 0, fd, log: pino({ level: 'silent' }),
      onStomp: (s, head) => { s.write(head); s.on('data', (d) => s.write(d)); }, onHttp: (s) => s.destroy() });
    await a.start();
    process.stdout.write('ready\\n');`;
  const py = `
import os, socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
sys.stdout.write('%d\\n' % s.getsockname()[1]); sys.stdout.flush()
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))
os.execve(sys.argv[1], [sys.argv[1], '--input-type=module', '-e', sys.argv[2]], env)`;
  const child = spawn('/usr/bin/python3', ['-c', py, process.execPath, childCode], { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  try {
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited ${code}: ${out}`)));
    });
    const port = Number(out.split('\n')[0]);
    const c = await RawClient.connect(port);
    c.write('SEND\nx');
    await c.until((t) => t === 'SEND\nx');
    c.close();
  } finally {
    child.kill();
  }
});

void test('listening on :: (or its 0.0.0.0 fallback) accepts loopback connections', async () => {
  const { acceptor, port } = await echoAcceptor({ host: '::' });
  try {
    const c = await RawClient.connect(port);
    c.write('SEND\n');
    await c.until((t) => t === 'SEND\n');
    c.close();
  } finally {
    await acceptor.close();
  }
});
