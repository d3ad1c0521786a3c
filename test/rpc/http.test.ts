// HTTP on the management port: /health (200 ready, 503 not ready, executor state included) and
// /metrics (Prometheus text: requests by verb and outcome, latency histogram, executor gauges).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { StompRpcClient } from '../../src/rpc/stomp-client.js';
import { RawClient } from '../peers/raw-socket.js';
import { startServer, type Fixture } from './server-fixture.js';

let fx: Fixture;
before(async () => {
  fx = await startServer();
});
after(() => fx.close());

function get(pathName: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: fx.port, path: pathName, method, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void test('/health is 200 with liveness, readiness and executor state when ready, 503 when not', async () => {
  const ok = await get('/health');
  assert.equal(ok.status, 200);
  assert.equal(ok.type, 'application/json');
  const j = JSON.parse(ok.body) as { live: boolean; ready: boolean; executor: { queued: number }; rpc: { connections: number } };
  assert.equal(j.live, true);
  assert.equal(j.ready, true);
  assert.equal(j.executor.queued, 2);
  assert.equal(typeof j.rpc.connections, 'number');
  fx.setReady(false);
  try {
    const not = await get('/health');
    assert.equal(not.status, 503);
    assert.equal((JSON.parse(not.body) as { ready: boolean }).ready, false);
  } finally {
    fx.setReady(true);
  }
});

void test('/metrics has requests by verb and outcome, the latency histogram and executor gauges', async () => {
  const client = new StompRpcClient({ host: '127.0.0.1', port: fx.port });
  await client.connect();
  try {
    assert.equal(await client.call('Host.ping2'), true);
    await assert.rejects(client.call('Host.nope'), { code: -32601 });
  } finally {
    client.close();
  }
  const m = await get('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.type, /^text\/plain/);
  assert.match(m.body, /vdsm_rpc_requests_total\{method="Host.ping2",outcome="ok"\} 1/);
  assert.match(m.body, /vdsm_rpc_requests_total\{method="<unknown>",outcome="not_found"\} 1/);
  assert.match(m.body, /vdsm_rpc_request_duration_seconds_count\{method="Host.ping2"\} 1/);
  assert.match(m.body, /vdsm_executor_queued_tasks 2/);
  assert.match(m.body, /vdsm_executor_live_workers 4/);
  assert.match(m.body, /vdsm_executor_lingering_workers 1/);
  assert.match(m.body, /vdsm_rpc_connections \d+/);
});

void test('HEAD works, unknown paths are 404, other methods 405', async () => {
  assert.equal((await get('/health', 'HEAD')).status, 200);
  assert.equal((await get('/nope')).status, 404);
  assert.equal((await get('/health', 'PUT')).status, 405);
});

void test('two pipelined requests on one keep-alive connection are both answered', async () => {
  const c = await RawClient.connect(fx.port);
  c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.until((t) => t.includes('200 OK') && t.includes('404 Not Found'));
  c.close();
});

void test('a malformed HTTP request gets 400 and the server keeps serving', async () => {
  const c = await RawClient.connect(fx.port);
  c.write('GET /health HTTP/1.1\r\nbad header line\r\n\r\n');
  await c.until((t) => t.includes('400'));
  c.close();
  assert.equal((await get('/health')).status, 200);
});
