// `vdsm-tool threads` against the real vdsmd: every thread the agent reports is a real thread of its
// process with its kernel name, the Executor workers are named and placed, /proc fills in state, CPU
// time and age, the lingering ledger is printed, and the tool reaches a TLS agent with the host's
// certificates by default (as vdsm-client does) or with --cert/--key/--cacert.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseTaskStat, renderThreads } from '../../src/ops/tool-threads.js';
import { harness } from '../runtime/executor-harness.js';
import { AgentProcess } from '../helpers/agent-process.js';

const TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));

function tool(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], { env: { ...process.env, VDSM_TRUST_STORE: '/nonexistent', VDSM_STATE_DIR: '/nonexistent', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

interface Report {
  pid: number;
  threads: { tid: number; name: string; executor?: string; age_ms?: number }[];
  executors: Record<string, { lingering: number; max_workers: number }>;
  proc: Record<string, { comm: string; state: string; cpuS: number; ageS: number }> | null;
}

void describe('vdsm-tool threads on a plain-TCP agent', () => {
  let agent: AgentProcess;
  before(async () => {
    agent = await AgentProcess.start();
    await agent.whenReady();
  });
  after(async () => { await agent?.cleanup(); });

  void it('lists main, the libvirt control thread and every executor worker, each a live, named thread of vdsmd', async () => {
    // The agent answers before its spares are up; a worker still starting has no thread yet (tid -1),
    // so ask again until every listed worker has reported its thread (a few seconds at most).
    let report: Report;
    for (let attempt = 0; ; attempt++) {
      const r = await tool(['threads', '--insecure', '-p', String(agent.port), '--json']);
      assert.equal(r.code, 0, r.stderr);
      report = JSON.parse(r.stdout) as Report;
      if (report.threads.every((t) => t.tid > 0) || attempt >= 50) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(report.proc, 'same host: /proc details present');
    const names = report.threads.map((t) => t.name);
    assert.equal(report.threads[0]?.tid, report.pid, 'the main thread is the process id');
    assert.ok(names.includes('libvirt/control'));
    for (const ex of ['periodic', 'jsonrpc']) assert.ok(names.some((n) => n.startsWith(`${ex}/`)), `${ex} workers listed`);
    for (const t of report.threads) {
      const p: { comm: string; ageS: number } | undefined = report.proc[String(t.tid)];
      assert.ok(p, `${t.name} (tid ${t.tid}) is a thread of pid ${report.pid}`);
      if (t.executor) assert.equal(p.comm, t.name, 'the kernel knows the worker by its listed name');
      assert.ok(p.ageS >= 0 && p.ageS < 600, `age of ${t.name} from /proc: ${p.ageS}`);
    }
    // qgapoller is listed with no threads: it starts its workers with its first task (no VM has a QEMU agent here).
    assert.deepEqual(Object.keys(report.executors).sort(), ['jsonrpc', 'migration', 'periodic', 'qgapoller']);
    assert.ok(!names.some((n) => n.startsWith('qgapoller/')), 'no poller threads without a VM to poll');
    assert.ok(Object.values(report.proc).some((p) => p.comm === 'libvirt/events'), 'the event-loop thread is there by its kernel name');
  });

  void it('prints a table with kernel names, age and CPU, and the lingering ledger', async () => {
    const r = await tool(['threads', '--insecure', '-p', String(agent.port)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TID +NAME +STATE +CPU s +AGE +DOING$/m);
    assert.match(r.stdout, /^\d+ +libvirt\/events +[RSD] +\d+\.\d\d +\d+s +libvirt event loop/m);
    assert.match(r.stdout, /^\d+ +periodic\/\d+ +[RSD] +\d+\.\d\d +\d+s +periodic executor worker/m);
    assert.match(r.stdout, /^Lingering workers .*\n {2}periodic: 0 lingering, \d+ parked, \d+ live, max_workers \d+\n {2}jsonrpc: 0 lingering/m);
  });

  void it('says which transport the agent speaks and what to do, and when nothing answers', async () => {
    const tls = await tool(['threads', '-p', String(agent.port), '--trust-store', agent.stateDir + '/nope', '--cert', '/x', '--key', '/y']);
    assert.equal(tls.code, 3);
    assert.match(tls.stderr, /--cert, --key and --cacert go together/);
    const none = await tool(['threads', '--insecure', '-p', '1']);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /nothing listens on 127\.0\.0\.1:1: is vdsmd running/);
    const noCert = await tool(['threads', '-p', String(agent.port)]);
    assert.equal(noCert.code, 3);
    assert.match(noCert.stderr, /no client certificate: the host certificates \(\/nonexistent\/certs\/vdsmcert\.pem/);
  });
});

void describe('vdsm-tool threads on a TLS agent', () => {
  let agent: AgentProcess;
  before(async () => {
    agent = await AgentProcess.start({ profile: 'embedded' });
    await agent.whenReady();
  });
  after(async () => { await agent?.cleanup(); });

  // The development PKI is laid out like /etc/pki/vdsm (certs/vdsmcert.pem, keys/vdsmkey.pem,
  // certs/cacert.pem): pointed at as the trust store, it is what a host's own certificates are.
  void it('uses the host certificates of the trust store by default', async () => {
    const r = await tool(['threads', '-p', String(agent.port), '--json'], { VDSM_TRUST_STORE: `${agent.stateDir}/pki` });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as Report).threads.length >= 3);
  });

  void it('takes --cert/--key/--cacert', async () => {
    const pki = `${agent.stateDir}/pki`;
    const r = await tool(['threads', '-p', String(agent.port), '--cert', `${pki}/certs/clientcert.pem`, '--key', `${pki}/keys/clientkey.pem`, '--cacert', `${pki}/certs/cacert.pem`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /libvirt\/control/);
  });

  void it('--insecure against TLS says the agent speaks TLS', async () => {
    const r = await tool(['threads', '--insecure', '-p', String(agent.port)]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /speaks TLS and this client used plain TCP \(--insecure\): drop --insecure/);
  });
});

void it('a discarded worker stays in the listing as lingering, with the operation it is stuck in', async (t) => {
  const h = harness({ workersCount: 1, maxWorkers: 3, spares: 0 });
  t.after(() => h.close());
  h.ex.start();
  const stuck = h.ex.dispatch('test.sleepNative', { ms: 1500, value: 'late' }, { timeoutMs: 100 });
  stuck.catch(() => undefined);
  await h.next('start');
  h.time.advance(150);
  await h.next('discard');
  const lingering = h.ex.threads().find((w) => w.state === 'lingering');
  assert.ok(lingering, 'the discarded worker is listed');
  assert.equal(lingering.stuck_op, 'test.sleepNative');
  assert.ok((lingering.stuck_ms ?? -1) >= 150);
  const text = renderThreads({ pid: 1, threads: [{ ...lingering, role: 'test executor worker' }] }, undefined, { test: { lingering: 1, live: 1, max_workers: 3 } });
  assert.match(text, /lingering: discarded while in test\.sleepNative/);
  assert.match(text, /^ {2}test: 1 lingering, 0 parked, 1 live, max_workers 3$/m);
  assert.match(text, new RegExp(`^  ${lingering.name.replace(/[/]/g, '\\/')} tid \\d+: test\\.sleepNative task \\d+, running 0s$`, 'm'));
});

void it('a worker let go from an offloaded native call is listed by its call thread, with the call it left behind', () => {
  const row = {
    tid: 4300, name: 'periodic/7', role: 'periodic executor worker', executor: 'periodic', state: 'lingering', op: null, task_id: null, runtime_ms: null,
    age_ms: 9000, stuck_op: 'sampling.bulkStats', stuck_task_id: 12, stuck_ms: 8000, thread_exited: true,
    native_call: { addon: 'virt', what: 'virConnectGetAllDomainStats', worker_tid: 4211, call_tid: 4300, age_ms: 8000 },
  };
  const text = renderThreads({ pid: 1, threads: [row] }, new Map([[4300, { comm: 'virt/call', state: 'S', cpuS: 0, ageS: 60 }], [4301, { comm: 'virt/call', state: 'S', cpuS: 0, ageS: 60 }]]), { periodic: { lingering: 1, live: 2, max_workers: 30 } });
  assert.match(text, /^4300 +periodic\/7 \(virt\/call\) +S .*lingering call: discarded while in sampling\.bulkStats \(task 12\); worker thread 4211 exited, virConnectGetAllDomainStats still running in call thread 4300$/m);
  assert.match(text, /^4301 +virt\/call +S .*native call thread/m);
  assert.match(text, /periodic\/7 tid 4300 \[S\]: sampling\.bulkStats task 12, running 8s, in virConnectGetAllDomainStats on call thread 4300 \(worker thread exited\)$/m);
});

void it('a parked task\'s call is listed by its call thread with its task; abandoned at its timeout, it is in the lingering ledger', () => {
  const parked = {
    tid: 4400, name: 'periodic/3', role: 'periodic executor worker', executor: 'periodic', state: 'parked', op: 'sampling.bulkStats', task_id: 21, runtime_ms: 120,
    age_ms: 120, parked_call: { key: 'virt:77', parked_ms: 119 },
    native_call: { addon: 'virt', what: 'virConnectGetAllDomainStats', worker_tid: 4210, call_tid: 4400, age_ms: 119 },
  };
  const abandoned = {
    ...parked, tid: 4401, state: 'lingering', task_id: 20, stuck_op: 'sampling.bulkStats', stuck_task_id: 20, stuck_ms: 900, parked_call: { key: 'virt:70', parked_ms: 899 },
    native_call: { ...parked.native_call, call_tid: 4401, age_ms: 899 },
  };
  const text = renderThreads({ pid: 1, threads: [parked, abandoned] }, new Map([[4400, { comm: 'virt/call', state: 'S', cpuS: 0, ageS: 1 }], [4401, { comm: 'virt/call', state: 'S', cpuS: 0, ageS: 1 }]]), { periodic: { lingering: 1, parked: 1, live: 4, max_workers: 30 } });
  assert.match(text, /^4400 +periodic\/3 \(virt\/call\) +S .*parked: sampling\.bulkStats \(task 21, 120 ms\) awaits virConnectGetAllDomainStats in call thread 4400; its worker serves other tasks$/m);
  assert.match(text, /^4401 +periodic\/3 \(virt\/call\) +S .*lingering call: sampling\.bulkStats \(task 20\) timed out while parked; its worker was kept/m);
  assert.match(text, /^ {2}periodic: 1 lingering, 1 parked, 4 live, max_workers 30$/m);
  assert.match(text, /periodic\/3 tid 4401 \[S\]: sampling\.bulkStats task 20, running 1s, in virConnectGetAllDomainStats on call thread 4401 \(its task timed out while parked, worker kept\)$/m);
});

void it('parseTaskStat reads state, CPU seconds and start time, even with spaces and parentheses in the name', () => {
  const line = '4242 (node (worker 1)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0';
  assert.deepEqual(parseTaskStat(line), { state: 'S', cpuS: 3, startTicks: 100 });
  assert.equal(parseTaskStat('garbage'), undefined);
});

void it('renderThreads shows what a busy worker runs, its age, and threads the agent did not name by kernel name', () => {
  const text = renderThreads(
    { pid: 10, threads: [{ tid: 10, name: 'main', role: 'acceptor' }, { tid: 11, name: 'periodic/0', role: 'periodic executor worker', state: 'busy', op: 'sampling.bulkStats', task_id: 7, runtime_ms: 1234.4 }] },
    new Map([[10, { comm: 'vdsmd', state: 'S', cpuS: 1, ageS: 4000 }], [11, { comm: 'periodic/0', state: 'D', cpuS: 0.5, ageS: 75 }], [12, { comm: 'libvirt/events', state: 'S', cpuS: 0, ageS: 3 }]]),
  );
  assert.match(text, /^10 +main +S +1\.00 +1h06m +acceptor$/m);
  assert.match(text, /^11 +periodic\/0 +D +0\.50 +1m15s +sampling\.bulkStats \(task 7, 1234 ms\) \[busy\]$/m);
  assert.match(text, /^12 +libvirt\/events +S +0\.00 +3s +libvirt event loop/m);
  assert.match(text, /^ {2}none$/m);
});
