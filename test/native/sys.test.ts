// native/sys against the real kernel: thread names read back from /proc, peer credentials of a real
// unix socket connection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { getThreadName, peerCredentials, setThreadName, THREAD_NAME_MAX } from '../../src/native-sys.js';

const tid = async (): Promise<string> => (await import('node:fs')).readlinkSync('/proc/thread-self').split('/').pop()!;

void describe('native/sys', () => {
  void it('names the calling thread as the kernel reports it, cut to 15 bytes', async () => {
    const before = getThreadName();
    try {
      setThreadName('vdsm-test-main-thread');
      const comm = (await readFile(`/proc/self/task/${await tid()}/comm`, 'utf8')).trim();
      assert.equal(comm, 'vdsm-test-main-thread'.slice(0, THREAD_NAME_MAX));
      assert.equal(getThreadName(), comm);
    } finally {
      setThreadName(before);
    }
  });

  void it('a worker names its own thread, not the main one', async () => {
    const mainName = getThreadName();
    const url = new URL('../../src/native-sys.js', import.meta.url).href;
    const worker = new Worker(
      `import { setThreadName } from ${JSON.stringify(url)}; import { readlinkSync } from 'node:fs'; import { parentPort } from 'node:worker_threads';
       setThreadName('jsonrpc/7'); setInterval(() => {}, 1 << 30); parentPort.postMessage(readlinkSync('/proc/thread-self').split('/').pop());`,
      { eval: true },
    );
    try {
      const [workerTid] = (await once(worker, 'message')) as [string];
      assert.equal((await readFile(`/proc/self/task/${workerTid}/comm`, 'utf8')).trim(), 'jsonrpc/7');
      assert.equal(getThreadName(), mainName);
    } finally {
      await worker.terminate();
    }
  });

  void it('reports the peer of a unix socket connection with its pid, uid and gid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vdsm-sys-'));
    const path = join(dir, 'peer.sock');
    const server = createServer();
    server.listen(path);
    await once(server, 'listening');
    try {
      const accepted = once(server, 'connection') as Promise<[Socket]>;
      const client = createConnection(path);
      await once(client, 'connect');
      const [socket] = await accepted;
      assert.deepEqual(peerCredentials(socket), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      client.destroy();
      socket.destroy();
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('a socket without a descriptor gets a clear error', () => {
    const client = createConnection({ path: '/nonexistent/never.sock' });
    client.on('error', () => {});
    client.destroy();
    assert.throws(() => peerCredentials(client), { code: 'ERR_NATIVE_SYSCALL' });
  });
});
