// The agent against a real hypervisor: vdsmd on qemu:///session (an unprivileged libvirtd, TCG) runs the
// tiny guest (Debian kernel + busybox initramfs with the real qemu-ga) through the engine's verbs, over
// the independent npm stompit STOMP client, and re-adopts it after a SIGKILL. Skipped unless
// scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createGuestDisk,
  ensureRealVmAssets,
  realVmSkip,
  startSessionLibvirtd,
  tinyGuestXml,
  Virsh,
  waitFor,
  type RealVmAssets,
  type SessionLibvirtd,
} from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { checkCapabilities, checkHostStats, checkVmStats, checkVmStatusEvent } from '../helpers/engine-types.js';

type Obj = Record<string, unknown>;

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

// Deadlines for things outside this process (a TCG boot is ~3 to 7 s; two busy cores can triple it).
const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
// Short sampling periods so real stats show up within seconds; the guest-wait fallback stays at
// vdsm's 60 s so that Up within the boot deadline can only come from the guest agent.
// A real hypervisor (TCG): no fake KVM, which the dev profile turns on.
const AGENT_ARGS = ['--set', 'vars.vm_sample_interval=2', '--set', 'vars.host_sample_stats_interval=2', '--set', 'vars.fake_kvm_support=false'];

interface Guest {
  readonly vmId: string;
  readonly name: string;
  readonly xml: string;
  readonly consoleLog: string;
}

async function prepareGuest(lv: SessionLibvirtd, assets: RealVmAssets, tag: string, withDisk: boolean, channels?: string[]): Promise<Guest> {
  const vmId = randomUUID();
  // Short names: libvirt puts the channel sockets under domain-N-<name>, inside a 108-byte sun_path.
  const name = `ag${tag}-${vmId.slice(0, 4)}`;
  const consoleLog = join(lv.runDir, `${name}.log`);
  const disk = withDisk ? { path: await createGuestDisk(join(lv.runDir, `${name}.qcow2`), { sizeMiB: 32, owner: lv.owner }) } : undefined;
  const xml = tinyGuestXml({ uuid: vmId, name, kernel: assets.kernel, initrd: assets.initrd, consoleLog, ...(disk ? { disk } : {}), ...(channels ? { channels } : {}) });
  return { vmId, name, xml, consoleLog };
}

async function consoleTail(g: Guest): Promise<string> {
  const text = await readFile(g.consoleLog, 'utf8').catch(() => '(no console log)');
  return text.split('\n').slice(-15).join('\n');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function vmParams(e: Obj, vmId: string): Obj {
  return (e['params'] as Record<string, Obj>)[vmId]!;
}

/** The cause the agent logged for a VM's move to `to` (guestUp = AGENT_LIFECYCLE connected, ovirtGuestAgentUp / qemuGuestAgentUp = that agent's first word). */
async function statusCause(agent: AgentProcess, vmId: string, to: string): Promise<unknown> {
  // The log line may reach us after the STOMP event: they travel on different pipes.
  const line = await agent.waitForLog((l) => l['msg'] === 'VM status changed' && l['vmId'] === vmId && l['to'] === to, 5_000);
  return line['cause'];
}

async function stats(engine: EngineClient, vmId: string): Promise<Obj> {
  const list = await engine.call<Obj[]>('VM.getStats', { vmID: vmId });
  assert.equal(list.length, 1);
  return list[0]!;
}

void describe('vdsmd on a real hypervisor (qemu:///session, TCG, tiny guest with qemu-ga)', { skip, timeout: 240_000 }, () => {
  let assets: RealVmAssets;
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let agent: AgentProcess | undefined;
  let engine: EngineClient | undefined;
  const timings: string[] = [];
  const agents: AgentProcess[] = [];

  async function startAgent(): Promise<{ agent: AgentProcess; engine: EngineClient }> {
    const a = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, ...AGENT_ARGS] });
    agent = a;
    agents.push(a);
    engine = await EngineClient.connect({ port: a.port });
    return { agent: a, engine };
  }

  /** A VM_status event with this status; on a timeout, the statuses seen, the agent's log and the console. */
  async function waitStatus(g: Guest, status: string, timeoutMs = CALL_TIMEOUT_MS): Promise<Obj> {
    try {
      return await engine!.waitForEvent(isVmStatus(g.vmId, status), timeoutMs);
    } catch (err) {
      const seen = engine!.events().filter((e) => e['method'] === `|virt|VM_status|${g.vmId}`).map((e) => JSON.stringify(vmParams(e, g.vmId)['status']));
      const log = agent!.lines.filter((l) => l['vmId'] === g.vmId || (l['level'] as number) >= 40).slice(-15).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${g.name}: no ${status} within ${timeoutMs} ms; statuses seen: ${seen.join(', ')}\nagent:\n${log}\nguest console:\n${await consoleTail(g)}`, { cause: err });
    }
  }

  async function waitUp(g: Guest, t0: number): Promise<Obj> {
    try {
      return await waitStatus(g, 'Up', BOOT_DEADLINE_MS);
    } finally {
      timings.push(`${g.name} create to Up ${seconds(performance.now() - t0)} s`);
    }
  }

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    assets = check.assets;
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-agent-'));
    await startAgent();
    await agent!.whenReady(CALL_TIMEOUT_MS);
  });

  after(async () => {
    // Worth knowing when tuning the periods: with a 2 s period a bulk stats call has 1 s before it is discarded.
    const failed = agents.map((a) => a.lines.filter((l) => l['msg'] === 'VM bulk stats sampling failed').length);
    if (failed.some((n) => n > 0)) process.stderr.write(`agent-real-vm: bulk stats sampling rounds that failed, per agent: ${failed.join(', ')}\n`);
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  void it('getCapabilities of a real QEMU host passes every engine check, with no exception', async (t) => {
    const caps = await engine!.call<Obj>('Host.getCapabilities', {}, CALL_TIMEOUT_MS);
    assert.deepEqual(checkCapabilities(caps), []);
    const machines = caps['emulatedMachines'] as string[];
    assert.ok(machines.includes('pc') || machines.some((m) => m.startsWith('pc-i440fx')), `emulatedMachines: ${machines.join(' ')}`);
    assert.match(String(caps['cpuFlags']), /(^|,)model_/);
    // Whether KVM is usable is what libvirt's QEMU driver says (a session daemon running as nobody cannot
    // open a root-only /dev/kvm: TCG only), checked here through virsh, an independent client.
    const libvirtCaps = await virsh.run(['capabilities']);
    const x86 = /<arch name='x86_64'>[\s\S]*?<\/arch>/.exec(libvirtCaps)?.[0] ?? '';
    assert.equal(caps['kvmEnabled'], x86.includes("<domain type='kvm'") ? 'true' : 'false');
    for (const m of ['pc', 'q35']) assert.ok(x86.includes(`>${m}</machine>`) === machines.includes(m), `machine ${m} as libvirt lists it`);
    t.diagnostic(`kvmEnabled=${String(caps['kvmEnabled'])} emulatedMachines=${machines.length} cpuModel=${String(caps['cpuModel'])}`);
    assert.deepEqual(checkHostStats(await engine!.call<Obj>('Host.getStats')), []);
  });

  void it('VM.create boots the guest: WaitForLaunch, Powering up, then Up from the guest agent; real stats flow', async (t) => {
    const g = await prepareGuest(lv, assets, 'a', true);
    const t0 = performance.now();
    const created = await engine!.call<Obj>('VM.create', { vmID: g.vmId, vmParams: { vmId: g.vmId, xml: g.xml } });
    assert.equal(created['vmId'], g.vmId);
    assert.equal(created['status'], 'WaitForLaunch');
    const poweringUp = await waitStatus(g, 'Powering up');
    timings.push(`${g.name} create to Powering up ${seconds(performance.now() - t0)} s`);
    const up = await waitUp(g, t0);
    for (const e of [poweringUp, up]) assert.deepEqual(checkVmStatusEvent(e), []);
    const cause = await statusCause(agent!, g.vmId, 'Up');
    t.diagnostic(`Powering up came from: ${String(await statusCause(agent!, g.vmId, 'Powering up'))}; Up came from: ${String(cause)}`);
    // The guest runs both agents: whichever speaks first (libvirt's AGENT_LIFECYCLE connected event, the
    // oVirt agent's first heartbeat, qemu-ga's first capability answer) moves it Up, never the guest wait.
    assert.ok(['guestUp', 'ovirtGuestAgentUp', 'qemuGuestAgentUp'].includes(String(cause)), `Up from a guest agent, long before the 60 s guest wait; cause ${String(cause)}`);
    assert.equal(await virsh.domstate(g.name), 'running');

    // Real stats: wait until two bulk samples exist (cpu.time in both, disk counters) and memory figures came in
    // (from the oVirt guest agent's heartbeat, which vdsm reports over the balloon's).
    const s = await waitFor(async () => {
      const v = await stats(engine!, g.vmId);
      const disks = v['disks'] as Record<string, Obj> | undefined;
      // Disk reads too: on a loaded machine the first samples can predate the guest kernel's disk probe.
      return v['cpuActual'] === true && (v['memoryStats'] as Obj | undefined)?.['mem_free'] !== undefined && Number(disks?.['vda']?.['readOps'] ?? 0) > 0 ? v : undefined;
    }, { timeoutMs: 40_000, intervalMs: 500, what: 'real VM stats (two samples, memoryStats, disk counters after the first reads)' });
    assert.deepEqual(checkVmStats(s), []);
    assert.equal(s['status'], 'Up');
    assert.equal(s['monitorResponse'], '0');
    assert.match(String(s['cpuUser']), /^\d+\.\d\d$/);
    assert.match(String(s['cpuSys']), /^\d+\.\d\d$/);
    // balloon_cur is the real balloon.current; target and minimum from the XML (currentMemory, minGuaranteedMemoryMb).
    assert.deepEqual(s['balloonInfo'], {
      balloon_max: '131072', balloon_min: '131072', balloon_cur: '131072', balloon_target: '131072', ballooning_enabled: true,
    });
    const mem = s['memoryStats'] as Obj;
    assert.ok(Number(mem['mem_total']) > 0 && Number(mem['mem_total']) <= 128 * 1024, `guest mem_total ${String(mem['mem_total'])} KiB`);
    assert.ok(Number(mem['mem_free']) > 0, 'the guest reported free memory');
    // The guest kernel probed the virtio disk: real read counters, no more than libvirt counts a moment later.
    const vda = (s['disks'] as Record<string, Obj>)['vda']!;
    const peer = await virsh.domstats(g.name, ['block']);
    assert.ok(Number(vda['readOps']) > 0 && Number(vda['readOps']) <= Number(peer['block.0.rd.reqs']), `vda readOps ${String(vda['readOps'])}, virsh ${peer['block.0.rd.reqs']}`);
    assert.ok(Number(vda['readBytes']) > 0 && Number(vda['readBytes']) <= Number(peer['block.0.rd.bytes']));
    assert.match(String(vda['readRate']), /^\d+\.\d+$/);
    const e1 = Number(s['elapsedTime']);
    t.diagnostic(`stats: cpuUser=${String(s['cpuUser'])} cpuSys=${String(s['cpuSys'])} mem=${JSON.stringify(mem)} vda=${JSON.stringify(vda)}`);
    await waitFor(async () => Number((await stats(engine!, g.vmId))['elapsedTime']) > e1, { timeoutMs: 10_000, intervalMs: 250, what: 'elapsedTime growing' });

    const all = await engine!.call<Obj[]>('Host.getAllVmStats');
    const mine = all.find((v) => v['vmId'] === g.vmId);
    assert.ok(mine, 'Host.getAllVmStats lists the VM');
    assert.deepEqual(checkVmStats(mine), []);

    const dumped = await engine!.call<Record<string, string>>('Host.dumpxmls', { vmList: [g.vmId] });
    assert.deepEqual(Object.keys(dumped), [g.vmId]);
    const live = dumped[g.vmId]!;
    assert.match(live, new RegExp(`<uuid>${g.vmId}</uuid>`));
    assert.match(live, /<domain type='qemu' id='\d+'/, 'the live XML (with the domain id) from libvirt');
    assert.match(live, /<ovirt-vm:clusterVersion>4\.7<\/ovirt-vm:clusterVersion>/);
    // VNC from this daemon's own port window (parallel daemons must not race for 5900); displayInfo shows it.
    const qemuConf = await readFile(join(lv.runDir, 'cfg/libvirt/qemu.conf'), 'utf8');
    const [vncMin, vncMax] = ['min', 'max'].map((k) => Number(new RegExp(`remote_display_port_${k} = (\\d+)`).exec(qemuConf)?.[1]));
    const vncPort = Number(/<graphics type='vnc' port='(\d+)'/.exec(live)?.[1]);
    assert.ok(vncPort >= vncMin! && vncPort <= vncMax!, `VNC port ${vncPort} in ${vncMin}..${vncMax}`);
    const display = (await stats(engine!, g.vmId))['displayInfo'] as Obj[];
    assert.deepEqual(display, [{ type: 'vnc', port: String(vncPort), tlsPort: '-1', ipAddress: '127.0.0.1' }]);
    assert.equal((await stats(engine!, g.vmId))['displayPort'], String(vncPort));
    // pid: the QEMU process running this guest, as the kernel shows it
    const pid = Number((await stats(engine!, g.vmId))['pid']);
    assert.ok(pid > 0, 'the QEMU pid was found');
    assert.match(await readFile(`/proc/${pid}/comm`, 'utf8'), /^qemu/);
    assert.ok((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').includes(g.vmId), 'its command line names the VM');

    // VM.shutdown: the oVirt guest agent is responsive (the guest's heartbeats), so it goes first.
    const s0 = performance.now();
    assert.equal(await engine!.call('VM.shutdown', { vmID: g.vmId, delay: '0', message: 'bye', timeout: '20' }), true);
    await waitStatus(g, 'Powering down');
    const down = await waitStatus(g, 'Down');
    timings.push(`${g.name} shutdown to Down ${seconds(performance.now() - s0)} s`);
    assert.deepEqual(checkVmStatusEvent(down), []);
    const exit = vmParams(down, g.vmId);
    assert.equal(exit['exitCode'], 0);
    assert.ok(exit['exitReason'] === 6 || exit['exitReason'] === 7, `exitReason ${String(exit['exitReason'])}: admin or user shutdown`);
    assert.match(await readFile(g.consoleLog, 'utf8'), /tinyguest: ovirt-guest-agent: shutdown \(timeout 0, reboot False\)/);
    const method = (await agent!.waitForLog((l) => l['msg'] === 'Machine shutting down' && l['vmId'] === g.vmId, 5_000))['method'];
    assert.equal(method, 'ovirt-guest-agent');
    t.diagnostic(`shutdown method: ${String(method)}; exitReason ${String(exit['exitReason'])}`);
    // Down stays listed until the engine destroys it.
    assert.equal((await stats(engine!, g.vmId))['status'], 'Down');
    assert.equal(await engine!.call('VM.destroy', { vmID: g.vmId }), true);
    assert.ok(!(await engine!.call<Obj[]>('Host.getAllVmStats')).some((v) => v['vmId'] === g.vmId));
    t.diagnostic(timings.join('; '));
  });

  void it('VM.shutdown of a guest without guest agents goes through ACPI: the guest\'s acpid powers it off', async (t) => {
    // No agent channel at all: ACPI is the agent's one way.
    const g = await prepareGuest(lv, assets, 'd', false, []);
    const t0 = performance.now();
    await engine!.call<Obj>('VM.create', { vmID: g.vmId, vmParams: { xml: g.xml } });
    await waitStatus(g, 'Powering up');
    // No guest agent event will say Up (that takes the 60 s guest wait): the console says when acpid runs.
    await waitFor(async () => /tinyguest: ready/.test(await readFile(g.consoleLog, 'utf8').catch(() => '')), {
      timeoutMs: BOOT_DEADLINE_MS, intervalMs: 250, what: `${g.name} console "ready"`,
    });
    timings.push(`${g.name} create to guest ready ${seconds(performance.now() - t0)} s`);
    const s0 = performance.now();
    assert.equal(await engine!.call('VM.shutdown', { vmID: g.vmId, timeout: 20 }), true);
    const method = (await agent!.waitForLog((l) => l['msg'] === 'Machine shutting down' && l['vmId'] === g.vmId, 5_000))['method'];
    assert.equal(method, 'acpi');
    await waitStatus(g, 'Powering down');
    const down = await waitStatus(g, 'Down');
    timings.push(`${g.name} ACPI shutdown to Down ${seconds(performance.now() - s0)} s`);
    assert.deepEqual(checkVmStatusEvent(down), []);
    assert.equal(vmParams(down, g.vmId)['exitCode'], 0);
    assert.equal(vmParams(down, g.vmId)['exitReason'], 6, 'admin shut down from the engine');
    assert.match(await readFile(g.consoleLog, 'utf8'), /tinyguest: ACPI power button/);
    assert.equal(await engine!.call('VM.destroy', { vmID: g.vmId }), true);
    t.diagnostic(timings.join('; '));
  });

  void it('VM.destroy of a booting VM: Down with exit info, gone from getAllVmStats and from libvirt', async (t) => {
    const g = await prepareGuest(lv, assets, 'b', false);
    const t0 = performance.now();
    await engine!.call<Obj>('VM.create', { vmID: g.vmId, vmParams: { xml: g.xml } });
    await waitStatus(g, 'Powering up');
    timings.push(`${g.name} create to Powering up ${seconds(performance.now() - t0)} s`);
    const d0 = performance.now();
    assert.equal(await engine!.call('VM.destroy', { vmID: g.vmId }, CALL_TIMEOUT_MS), true);
    timings.push(`${g.name} VM.destroy ${seconds(performance.now() - d0)} s`);
    const down = await waitStatus(g, 'Down');
    assert.deepEqual(checkVmStatusEvent(down), []);
    assert.equal(vmParams(down, g.vmId)['exitReason'], 6, 'admin shut down from the engine');
    assert.ok(!(await engine!.call<Obj[]>('Host.getAllVmStats')).some((v) => v['vmId'] === g.vmId));
    assert.ok(!(await virsh.listAll()).includes(g.name), 'libvirt no longer runs it');
    t.diagnostic(timings.join('; '));
  });

  void it('a real VM survives a SIGKILL of the agent: re-adopted Up with the same id, stats flow, then shut down through qemu-ga', async (t) => {
    // Only the QEMU guest agent's channel: after the restart VM.shutdown has qemu-ga's guest-shutdown first.
    const g = await prepareGuest(lv, assets, 'c', false, ['org.qemu.guest_agent.0']);
    const t0 = performance.now();
    await engine!.call<Obj>('VM.create', { vmID: g.vmId, vmParams: { xml: g.xml } });
    await waitUp(g, t0);
    assert.ok((await virsh.listAll()).includes(g.name));

    engine!.close();
    await agent!.kill();
    const r0 = performance.now();
    const { agent: second, engine: engine2 } = await startAgent();
    await second.whenReady(CALL_TIMEOUT_MS);
    timings.push(`restart to ready ${seconds(performance.now() - r0)} s`);
    assert.equal(await virsh.domstate(g.name), 'running', 'QEMU kept running while the agent was down');

    const all = await engine2.call<Obj[]>('Host.getAllVmStats');
    const vm = all.find((v) => v['vmId'] === g.vmId);
    assert.equal(vm?.['status'], 'Up', 're-adopted Up');
    const pid = Number((await waitFor(async () => { const v = await stats(engine2, g.vmId); return v['pid'] !== '0' ? v : undefined; }, { timeoutMs: 10_000, intervalMs: 100, what: 'the re-adopted VM\'s QEMU pid' }))['pid']);
    assert.ok((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').includes(g.vmId), 'the re-adopted VM\'s pid is its QEMU');
    const recovered = await waitStatus(g, 'Up');
    assert.deepEqual(checkVmStatusEvent(recovered), []);
    const s = await waitFor(async () => {
      const v = await stats(engine2, g.vmId);
      return v['cpuUser'] !== undefined && (v['memoryStats'] as Obj | undefined)?.['mem_free'] !== undefined ? v : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'stats after recovery' });
    assert.deepEqual(checkVmStats(s), []);
    assert.equal(s['monitorResponse'], '0');
    assert.equal(s['cpuActual'], true, 'cpu.time in both samples of the new agent');
    // elapsedTime counts from the domain's start (kept across the restart), not from the re-adoption.
    const sinceCreate = Math.floor((performance.now() - t0) / 1000);
    assert.ok(Number(s['elapsedTime']) >= sinceCreate - 1, `elapsedTime ${String(s['elapsedTime'])} s, created ${sinceCreate} s ago`);

    const d0 = performance.now();
    assert.equal(await engine2.call('VM.shutdown', { vmID: g.vmId, timeout: 20 }), true);
    const down = await waitStatus(g, 'Down');
    timings.push(`${g.name} VM.shutdown to Down ${seconds(performance.now() - d0)} s`);
    // 6 admin shut down; 7 when the guest's power-off beat the agent's bookkeeping (as in the first test).
    assert.ok([6, 7].includes(vmParams(down, g.vmId)['exitReason'] as number));
    assert.equal((await second.waitForLog((l) => l['msg'] === 'Machine shutting down' && l['vmId'] === g.vmId, 5_000))['method'], 'qemu-guest-agent');
    assert.match(await readFile(g.consoleLog, 'utf8'), /tinyguest: shutdown/, "qemu-ga's guest-shutdown ran the guest's /sbin/shutdown");
    assert.equal(await engine2.call('VM.destroy', { vmID: g.vmId }, CALL_TIMEOUT_MS), true);
    assert.ok(!(await engine2.call<Obj[]>('Host.getAllVmStats')).some((v) => v['vmId'] === g.vmId));
    assert.ok(!(await virsh.listAll()).includes(g.name), 'libvirt no longer runs it');
    t.diagnostic(timings.join('; '));
  });
});
