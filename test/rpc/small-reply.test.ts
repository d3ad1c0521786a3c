// The small-request path (issue 17): a verb that answers synchronously with a small reply is answered
// while its request is handled (no promise, no later turn), so the reply itself carries the TCP ACK and
// the server owes the kernel no TCP_QUICKACK call; a verb still running once its request was handled gets
// the immediate ACK as before (clients with Nagle on wait for it). Observed through the acceptor's quick-ACK
// hook on real sockets, plain and TLS; the speed itself is measured in bench/rpc.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { apiMethods } from '../../src/api/host-basic.js';
import { MethodTable } from '../../src/api/method-table.js';
import { s } from '../../src/api/schema.js';
import { tcpQuickAck } from '../../src/native-sys.js';
import { ensureDevPki, loadTlsFiles } from '../../src/rpc/pki.js';
import { createRpcServer } from '../../src/rpc/rpc-server.js';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { silentLogManager } from './silent-log.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

for (const transport of ['plain', 'tls'] as const) {
  void test(`${transport}: small synchronous replies leave while the request is handled (no quick-ACK owed); a pending verb gets its ACK at once`, async () => {
    const dir = transport === 'tls' ? await mkdtemp(path.join(tmpdir(), 'vdsm-small-reply-')) : undefined;
    const pki = dir !== undefined ? await ensureDevPki(dir) : undefined;
    const calls: number[] = [];
    let finish: ((v: unknown) => void) | undefined;
    const logManager = silentLogManager();
    const rpc = createRpcServer({
      host: '127.0.0.1', port: 0, logManager,
      methods: new MethodTable([
        ...apiMethods({ logManager }),
        { name: 'Test.later', description: 'answers when the test says so', params: [], result: s.any(), handler: () => new Promise((resolve) => (finish = resolve)) },
      ]),
      quickAck: (fd) => {
        calls.push(fd);
        return tcpQuickAck(fd);
      },
      ...(pki ? { tls: await loadTlsFiles(pki.server) } : {}),
    });
    const { port } = await rpc.start();
    const client = new StompRpcClient({ host: '127.0.0.1', port, ...(pki ? { tls: await loadTlsFiles(pki.client) } : {}) });
    try {
      await client.connect();
      // CONNECT and SUBSCRIBE are settled once a first request has been answered.
      assert.equal(await client.call('Host.ping2'), true);
      const settled = calls.length;
      for (let i = 0; i < 50; i++) {
        assert.equal(await client.call('Host.ping2'), true);
        assert.deepEqual(await client.call('Host.echo', { message: { i } }), { i });
      }
      assert.equal(calls.length, settled, `quick-ACK calls during 100 small synchronous calls: ${calls.length - settled}`);

      const pending = client.call('Test.later');
      while (calls.length === settled) await turn();
      assert.equal(calls.length, settled + 1, 'one immediate ACK for the request left unanswered in its turn');
      finish!('done');
      assert.equal(await pending, 'done');
    } finally {
      client.close();
      await rpc.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  });
}
