// The production arrangement, end to end: the real supervdsmd as root and the real vdsmd as an
// unprivileged user created for the test, driven through the engine's own protocol. Privileged work
// goes through the helper onto this machine's kernel (KSM read back from /sys/kernel/mm/ksm, a VM's
// hugepages from /sys/kernel/mm/hugepages, its guest channel socket made group-writable); a stopped
// helper fails calls at their deadline, a killed one fails the call in flight, and calls succeed again
// once it is restarted, the same vdsmd process serving throughout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient } from '../helpers/engine-client.js';
import { SupervdsmProcess } from '../helpers/supervdsm-process.js';
import { waitFor } from '../support/realvm/wait-for.js';
import { createTestAccount, type TestAccount } from '../helpers/test-account.js';

/** These tests create users, run supervdsmd or act as other uids: root only (CI runs as root). */
const NEEDS_ROOT = process.getuid?.() === 0 ? false : 'needs root';

const KSM = '/sys/kernel/mm/ksm';
const HP2M = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
const VM_ID = '5d1e3c7a-13ab-4c00-8000-0000000013a1';
const readNum = async (path: string): Promise<number> => Number((await readFile(path, 'utf8')).trim());

function domainXml(channel: string): string {
  return `<domain type="test">
  <name>svdsm-e2e</name>
  <uuid>${VM_ID}</uuid>
  <memory unit="KiB">4096</memory>
  <currentMemory unit="KiB">4096</currentMemory>
  <memoryBacking><hugepages><page size="2048" unit="KiB"/></hugepages></memoryBacking>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices>
    <channel type="unix"><source mode="bind" path="${channel}"/><target type="virtio" name="org.qemu.guest_agent.0"/></channel>
  </devices>
</domain>`;
}

/** A running VM with only an oVirt guest agent channel (no hugepages). */
function ovirtChannelXml(vmId: string, channel: string): string {
  return `<domain type="test">
  <name>svdsm-e2e-oga</name>
  <uuid>${vmId}</uuid>
  <memory unit="KiB">4096</memory>
  <currentMemory unit="KiB">4096</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <devices>
    <channel type="unix"><source mode="bind" path="${channel}"/><target type="virtio" name="ovirt-guest-agent.0"/></channel>
  </devices>
</domain>`;
}

/** The first newline-terminated line a socket receives (the socket stays open). */
function firstLine(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += String(chunk);
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.off('data', onData);
      resolve(buf.slice(0, nl));
    };
    sock.on('data', onData);
    sock.once('close', () => reject(new Error(`closed before a line; got ${JSON.stringify(buf)}`)));
  });
}

async function health(port: number): Promise<Record<string, unknown>> {
  const r = await fetch(`http://127.0.0.1:${port}/health`);
  return (await r.json()) as Record<string, unknown>;
}

void describe('vdsmd as an unprivileged user, supervdsmd as root', { skip: NEEDS_ROOT }, () => {
  let dir: string;
  let account: TestAccount;
  let helper: SupervdsmProcess;
  let agent: AgentProcess;
  let engine: EngineClient;
  let channelServer: Server;
  let helperArgs: string[];
  const paths = { run: '', channels: '', state: '' };
  const ksmBefore: Record<string, number> = {};
  let hugepagesBefore = 0;

  /** Resolves once vdsmd logged its connection to the helper process `pid`; then what /health says. */
  const connectedTo = async (pid: number): Promise<Record<string, unknown>> => {
    await agent.waitForLog((l) => l['msg'] === 'connected to supervdsm' && l['serverPid'] === pid, 30_000);
    return (await health(agent.port))['supervdsm'] as Record<string, unknown>;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vdsm-svdsm-e2e-'));
    await chmod(dir, 0o755);
    account = await createTestAccount();
    Object.assign(paths, { run: join(dir, 'run'), channels: join(dir, 'channels'), state: join(dir, 'state') });
    await mkdir(paths.run, { mode: 0o755 });
    await chown(paths.run, account.uid, account.gid);
    await mkdir(paths.channels, { mode: 0o755 });
    await mkdir(paths.state);
    for (const k of ['pages_to_scan', 'sleep_millisecs']) ksmBefore[k] = await readNum(`${KSM}/${k}`);
    hugepagesBefore = await readNum(HP2M);
    const shared = ['--set', `vars.run_dir=${paths.run}`, '--set', `supervdsm.user=${account.user}`, '--set', `supervdsm.group=${account.group}`, '--set', `supervdsm.channel_dirs=${paths.channels}`];
    helperArgs = shared;
    helper = await SupervdsmProcess.start(helperArgs);
    agent = await AgentProcess.start({
      stateDir: paths.state, runDir: paths.run, asUser: account,
      args: [...shared, '--set', 'supervdsm.enable=true', '--set', 'supervdsm.call_timeout=3', '--set', 'performance.use_dynamic_hugepages=true', '--set', 'vars.guest_wait_timeout=1'],
    });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady();
  });

  after(async () => {
    engine?.close();
    await agent?.stop();
    await helper?.stop();
    channelServer?.close();
    for (const [k, v] of Object.entries(ksmBefore)) await writeFile(`${KSM}/${k}`, String(v));
    if (hugepagesBefore !== await readNum(HP2M)) await writeFile(HP2M, String(hugepagesBefore));
    await account?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  void it('vdsmd runs as the test user, and its /health shows it connected to the helper', async () => {
    const status = await readFile(`/proc/${agent.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${account.uid}\\s+${account.uid}\\s+${account.uid}\\s+${account.uid}$`, 'm'));
    assert.match(status, new RegExp(`^Gid:\\s+${account.gid}\\s+${account.gid}\\s+${account.gid}\\s+${account.gid}$`, 'm'));
    const h = await connectedTo(helper.pid);
    assert.equal(h['state'], 'connected');
    assert.equal(h['serverPid'], helper.pid);
  });

  void it('Host.setKsmTune goes through the helper: the kernel reads back the values', async () => {
    const want = { pages_to_scan: ksmBefore['pages_to_scan'] === 321 ? 322 : 321, sleep_millisecs: ksmBefore['sleep_millisecs'] === 41 ? 42 : 41 };
    assert.equal(await engine.call('Host.setKsmTune', { tuningParams: want }), true);
    assert.equal(await readNum(`${KSM}/pages_to_scan`), want.pages_to_scan);
    assert.equal(await readNum(`${KSM}/sleep_millisecs`), want.sleep_millisecs);
    const bad = await engine.request('Host.setKsmTune', { tuningParams: { run: 5 } });
    assert.equal(bad.error?.code, 71);
    assert.match(String(bad.error?.message), /ERR_SVDSM_INVALID_ARGUMENT|not an integer in 0\.\.2/);
  });

  void it("a VM asking for hugepages gets them allocated through the helper (and released at destroy); its channel socket becomes group-writable", async () => {
    const channel = join(paths.channels, `${VM_ID}.org.qemu.guest_agent.0`);
    channelServer = createServer();
    channelServer.listen(channel);
    await once(channelServer, 'listening');
    await chmod(channel, 0o755); // as QEMU leaves it: the vdsm user cannot connect
    await engine.call('VM.create', { vmID: VM_ID, vmParams: { vmId: VM_ID, xml: domainXml(channel) } });
    await agent.waitForLog((l) => l['msg'] === 'VM launched' && l['vmId'] === VM_ID);
    assert.equal(await readNum(HP2M), hugepagesBefore + 2, '4 MiB of 2 MiB pages');
    const prepared = await agent.waitForLog((l) => l['msg'] === 'guest channel prepared' || l['msg'] === 'Failed to prepare vmchannel');
    assert.equal(prepared['msg'], 'guest channel prepared', JSON.stringify(prepared));
    const st = await stat(channel);
    assert.equal(st.mode & 0o777, 0o775, 'group write added');
    await engine.call('VM.destroy', { vmID: VM_ID });
    assert.equal(await readNum(HP2M), hugepagesBefore, 'released at destroy');
  });

  void it('the oVirt guest agent channel: the unprivileged vdsmd connects once the helper made the socket group-writable, and reports what the guest says', async () => {
    // The test plays QEMU's side of the channel: a listening socket of root in a group the vdsm user is in
    // (qemu's, on a host), 0755 as QEMU leaves it; the vdsm user's connects are refused until
    // prepareVmChannel adds group write.
    const vmId = '5d1e3c7a-13ab-4c00-8000-0000000013a2';
    const channel = join(paths.channels, `${vmId}.ovirt-guest-agent.0`);
    const server = createServer();
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    server.listen(channel);
    await once(server, 'listening');
    await chown(channel, 0, account.gid);
    await chmod(channel, 0o755);
    try {
      await engine.call('VM.create', { vmID: vmId, vmParams: { vmId, xml: ovirtChannelXml(vmId, channel) } });
      const [sock] = await accepted;
      assert.equal((await stat(channel)).mode & 0o777, 0o775, 'connected only after the helper added group write');
      assert.deepEqual(JSON.parse(await firstLine(sock)), { __name__: 'refresh', apiVersion: 3 });
      sock.write(`${JSON.stringify({ __name__: 'heartbeat', 'free-ram': 1, apiVersion: 3 })}\n${JSON.stringify({ __name__: 'host-name', name: 'unprivileged-guest' })}\n`);
      let last: unknown;
      const s = await waitFor(async () => {
        const [v] = await engine.call<Record<string, unknown>[]>('VM.getStats', { vmID: vmId });
        last = v;
        return v?.['guestName'] === 'unprivileged-guest' ? v : undefined;
      }, { timeoutMs: 15_000, what: 'the guest\'s host name in VM.getStats' }).catch((err: Error) => {
        throw new Error(`${err.message}; last stats: ${JSON.stringify(last)}`);
      });
      assert.equal(s['memUsage'], '75', '1 MiB free of 4 MiB');
      sock.destroy();
      await engine.call('VM.destroy', { vmID: vmId });
    } finally {
      server.close();
    }
  });

  void it('Host.getHardwareInfo says clearly why there is nothing (this machine has no DMI tables), or reports the DMI', async () => {
    const hasTables = await stat('/sys/firmware/dmi/tables').then(() => true, () => false);
    const r = await engine.request('Host.getHardwareInfo');
    if (hasTables) assert.equal(typeof (r.result as Record<string, unknown>)['systemUUID'], 'string');
    else {
      assert.equal(r.error?.code, 57);
      assert.match(String(r.error?.message), /^Failed to read hardware information: no hardware information readable: this machine exposes no SMBIOS\/DMI tables .*; the privileged helper \(supervdsm\) found none either$/);
    }
    const caps = await engine.call<Record<string, unknown>>('Host.getCapabilities');
    assert.match(String(caps['uuid']), /^[0-9a-f-]{36}$/);
  });

  void it('a frozen helper fails the call at its deadline; a killed one fails the call in flight; calls work again after its restart, same vdsmd', async () => {
    const vdsmdPid = agent.pid;
    process.kill(helper.pid, 'SIGSTOP');
    try {
      const frozen = await engine.request('Host.setKsmTune', { tuningParams: { sleep_millisecs: 43 } });
      assert.equal(frozen.error?.code, 71);
      assert.match(String(frozen.error?.message), /supervdsm call deadline passed/);
      const inFlight = engine.request('Host.setKsmTune', { tuningParams: { sleep_millisecs: 44 } });
      // Kill only once vdsmd has the call out to the (frozen) helper.
      while (((await health(agent.port))['supervdsm'] as Record<string, number>)['inFlight'] !== 1) await new Promise((r) => setTimeout(r, 20));
      await helper.kill();
      const lost = await inFlight;
      assert.equal(lost.error?.code, 71);
      assert.match(String(lost.error?.message), /Connection to supervdsm lost during the call/);
    } finally {
      if (helper.running) process.kill(helper.pid, 'SIGCONT');
    }
    const down = await engine.request('Host.setKsmTune', { tuningParams: { sleep_millisecs: 45 } });
    assert.equal(down.error?.code, 71);
    assert.match(String(down.error?.message), /supervdsm is not available at .*svdsm\.sock/);
    assert.notEqual(await readNum(`${KSM}/sleep_millisecs`), 45);
    helper = await SupervdsmProcess.start(helperArgs);
    const h = await connectedTo(helper.pid);
    assert.equal(h['state'], 'connected');
    assert.equal(await engine.call('Host.setKsmTune', { tuningParams: { sleep_millisecs: 46 } }), true);
    assert.equal(await readNum(`${KSM}/sleep_millisecs`), 46);
    assert.equal(agent.pid, vdsmdPid);
    const metrics = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
    assert.match(metrics, /vdsm_supervdsm_calls_total\{method="ksmTune",outcome="ERR_SVDSM_CONNECTION_LOST"\} 1/);
    assert.match(metrics, /vdsm_supervdsm_calls_total\{method="ksmTune",outcome="ERR_SVDSM_TIMEOUT"\} 1/);
    assert.match(metrics, /vdsm_supervdsm_connected 1/);
  });
});
