// Immediate ACKs on accepted connections (issue 11): a client with Nagle on holds its next frame until the
// server acknowledges the last one, and Linux delays ACKs of unanswered data by up to 40 ms; the acceptor
// sets TCP_QUICKACK after every read. The effect itself is a time, measured in bench/first-request.ts; here
// the kernel call and its wiring: native/sys on real sockets, and the acceptor calling it per chunk with the
// accepted socket's descriptor, plain and TLS.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { tcpQuickAck } from '../../src/native-sys.js';
import { Acceptor } from '../../src/rpc/acceptor.js';
import { ensureDevPki, loadTlsFiles } from '../../src/rpc/pki.js';
import { socketFd } from '../../src/rpc/quick-ack.js';
import { silentLogger } from './silent-log.js';

async function connectedPair(path?: string): Promise<{ server: Socket; client: Socket; close: () => Promise<void> }> {
  const srv = createServer();
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  await new Promise<void>((resolve) => (path !== undefined ? srv.listen(path, resolve) : srv.listen(0, '127.0.0.1', resolve)));
  const addr = srv.address();
  const client = path !== undefined ? createConnection(path) : createConnection((addr as { port: number }).port, '127.0.0.1');
  const [server] = await accepted;
  return { server, client, close: async () => { client.destroy(); server.destroy(); await new Promise((r) => srv.close(r)); } };
}

void test('native/sys tcpQuickAck: true on a TCP socket, false on a unix socket or a closed descriptor', async () => {
  const tcp = await connectedPair();
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-qa-'));
  const unix = await connectedPair(join(dir, 's'));
  try {
    assert.equal(tcpQuickAck(socketFd(tcp.server)!), true);
    assert.equal(tcpQuickAck(socketFd(tcp.client)!), true);
    assert.equal(tcpQuickAck(socketFd(unix.server)!), false);
    assert.equal(tcpQuickAck(0x7fffffff), false);
    assert.throws(() => tcpQuickAck(-1), /non-negative integer/);
  } finally {
    await tcp.close();
    await unix.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/** An acceptor whose quick-ACK calls are recorded; the STOMP handler records the accepted socket's fd. */
async function recordingAcceptor(tlsMaterial?: Awaited<ReturnType<typeof loadTlsFiles>>) {
  const calls: number[] = [];
  const accepted: number[] = [];
  const acceptor = new Acceptor({
    host: '127.0.0.1', port: 0, log: silentLogger(),
    ...(tlsMaterial ? { tls: tlsMaterial } : {}),
    quickAck: (fd) => {
      calls.push(fd);
      return tcpQuickAck(fd);
    },
    onStomp: (s) => {
      accepted.push(socketFd(s)!);
      s.on('data', () => undefined);
    },
    onHttp: (s) => s.destroy(),
  });
  const { port } = await acceptor.start();
  return { acceptor, port, calls, accepted };
}

/** Write chunks one at a time, each after the server has taken the previous one in. */
async function writeChunks(socket: Socket, calls: number[], chunks: string[]): Promise<void> {
  for (const c of chunks) {
    const before = calls.length;
    socket.write(c);
    while (calls.length === before) await new Promise((r) => setImmediate(r));
  }
}

void test('plain: the acceptor sets TCP_QUICKACK on the accepted socket after every chunk it reads', async () => {
  const { acceptor, port, calls, accepted } = await recordingAcceptor();
  const c = createConnection(port, '127.0.0.1');
  try {
    await once(c, 'connect');
    await writeChunks(c, calls, ['SUBSCRIBE\ndestination:a\nid:1\n\n\0', 'SUBSCRIBE\ndestination:b\nid:2\n\n\0', 'SEND\ndestination:x\n\n{}\0']);
    // once when armed, then once per chunk read (none of them is answered)
    assert.ok(calls.length >= 4, `calls: ${calls.length}`);
    assert.equal(accepted.length, 1);
    assert.ok(calls.every((fd) => fd === accepted[0]), 'always the accepted socket');
  } finally {
    c.destroy();
    await acceptor.close();
  }
});

void test('TLS: the decrypted socket shares the descriptor, so the same happens after every TLS read', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-qa-pki-'));
  const pki = await ensureDevPki(dir);
  const { acceptor, port, calls, accepted } = await recordingAcceptor(await loadTlsFiles(pki.server));
  const client = await loadTlsFiles(pki.client);
  const c = tls.connect({ host: '127.0.0.1', port, key: client.key, cert: client.cert, ca: client.ca, checkServerIdentity: () => undefined });
  try {
    await once(c, 'secureConnect');
    await writeChunks(c, calls, ['CONNECT\naccept-version:1.2\n\n\0', 'SUBSCRIBE\ndestination:a\nid:1\n\n\0']);
    assert.ok(calls.length >= 3, `calls: ${calls.length}`);
    assert.ok(calls.every((fd) => fd === accepted[0]));
  } finally {
    c.destroy();
    await acceptor.close();
    await rm(dir, { recursive: true, force: true });
  }
});

void test('a chunk answered while it is handled is not quick-acked (the answer carries the ACK); one left unanswered still is', async () => {
  const calls: number[] = [];
  let answered = 0;
  const acceptor = new Acceptor({
    host: '127.0.0.1', port: 0, log: silentLogger(),
    quickAck: (fd) => {
      calls.push(fd);
      return tcpQuickAck(fd);
    },
    // Chunks starting with SEND are answered at once, in the 'data' callback; others are not answered.
    onStomp: (s) => s.on('data', (d: Buffer) => {
      if (d.toString('latin1', 0, 4) === 'SEND') s.write(`answer ${++answered}\n`);
    }),
    onHttp: (s) => s.destroy(),
  });
  const { port } = await acceptor.start();
  const c = createConnection(port, '127.0.0.1');
  c.setNoDelay(true);
  let received = '';
  c.on('data', (d: Buffer) => (received += d.toString('latin1')));
  try {
    await once(c, 'connect');
    // The detection chunk is not answered: armed, then acknowledged.
    c.write('SUBSCRIBE\ndestination:a\nid:1\n\n\0');
    while (calls.length < 2) await new Promise((r) => setImmediate(r));
    const settled = calls.length;
    for (let i = 1; i <= 20; i++) {
      c.write('SEND\ndestination:x\n\n{}\0');
      // The answer left while the request was handled; the server's check (a 'data' listener after the
      // handler's) has run by the time the client, in this same process, reads the answer.
      while (!received.includes(`answer ${i}\n`)) await new Promise((r) => setImmediate(r));
    }
    assert.equal(calls.length, settled, 'no TCP_QUICKACK for chunks answered at once');
    await writeChunks(c, calls, ['SUBSCRIBE\ndestination:b\nid:2\n\n\0']);
    assert.equal(calls.length, settled + 1);
  } finally {
    c.destroy();
    await acceptor.close();
  }
});
