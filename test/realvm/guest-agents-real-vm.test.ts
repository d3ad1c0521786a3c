// Both guest agents against real peers: vdsmd on qemu:///session (TCG) runs the tiny guest, whose real
// qemu-ga answers the QEMU guest agent poller through libvirt and whose /init speaks the ovirt-guest-agent
// protocol over QEMU's virtio-serial from the guest's real state. Played as the engine over stompit:
// merged guest info in VM.getStats (checked against virsh, an independent client, and the engine's types),
// the desktop verbs, bad input from the guest, qemu-ga stopped and killed inside the guest (VM stays Up,
// data ages out, one line per change, back-off, recovery) and VM.shutdown through the oVirt agent.
// Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createGuestDisk, ensureRealVmAssets, realVmSkip, startSessionLibvirtd, tinyGuestXml, Virsh, waitFor,
  type RealVmAssets, type SessionLibvirtd,
} from '../support/realvm/index.js';
import { AgentProcess } from '../helpers/agent-process.js';
import { EngineClient, isVmStatus } from '../helpers/engine-client.js';
import { checkVmStats, checkVmStatusEvent } from '../helpers/engine-types.js';

type Obj = Record<string, unknown>;

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

const BOOT_DEADLINE_MS = 90_000;
const CALL_TIMEOUT_MS = 60_000;
/** Seconds a silent agent's data stays reported (and the oVirt agent counts as responsive): > the guest's 5 s heartbeat. */
const MAX_AGE_S = 10;
// Short periods so that every query runs within seconds; the back-off short enough to see two of them.
const AGENT_ARGS = [
  '--set', 'vars.vm_sample_interval=2', '--set', 'vars.host_sample_stats_interval=2',
  '--set', 'guest_agent.qga_polling_period=1', '--set', 'guest_agent.qga_active_users_period=1', '--set', 'guest_agent.qga_sysinfo_period=2',
  '--set', 'guest_agent.qga_disk_info_period=2', '--set', 'guest_agent.qga_cpu_info_period=2', '--set', 'guest_agent.qga_info_period=5',
  '--set', `guest_agent.guest_info_max_age=${MAX_AGE_S}`, '--set', 'guest_agent.qga_failure_backoff=2', '--set', 'guest_agent.qga_command_timeout=1',
];
const DISK_SERIAL = 'tinydata-0001';

void describe('both guest agents on a real guest (qemu-ga through libvirt, ovirt-guest-agent over virtio-serial)', { skip, timeout: 240_000 }, () => {
  let assets: RealVmAssets;
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let stateDir: string;
  let agent: AgentProcess;
  let engine: EngineClient;
  const vmId = randomUUID();
  const name = `ga-${vmId.slice(0, 4)}`;
  let consoleLog: string;
  const timings: string[] = [];
  let t0 = 0;
  const mark = (what: string): void => void timings.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const stats = async (): Promise<Obj> => (await engine.call<Obj[]>('VM.getStats', { vmID: vmId }))[0]!;
  const until = async <T>(what: string, fn: (s: Obj) => T | undefined, timeoutMs = 30_000): Promise<T> => {
    try {
      return await waitFor(async () => fn(await stats()), { timeoutMs, intervalMs: 250, what: `${what} in VM.getStats` });
    } catch (err) {
      const mine = agent.lines.filter((l) => l['vmId'] === vmId || (l['level'] as number) >= 40).slice(-20).map((l) => JSON.stringify(l)).join('\n');
      const guest = (await readFile(consoleLog, 'utf8').catch(() => '')).split('\n').slice(-10).join('\n');
      throw new Error(`${String((err as Error).message)}\nlast stats: ${JSON.stringify(await stats()).slice(0, 1500)}\nagent:\n${mine}\nguest console:\n${guest}`, { cause: err });
    }
  };
  const lines = (msg: string | RegExp): Obj[] => agent.lines.filter((l) => l['vmId'] === vmId && (typeof msg === 'string' ? l['msg'] === msg : msg.test(String(l['msg']))));
  const hc = (message: string): Promise<unknown> => engine.call('VM.desktopSendHcCommand', { vmID: vmId, message });
  const agentCommand = async (cmd: string): Promise<unknown> => virsh.agentCommand(name, cmd);

  before(async () => {
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    assets = check.assets;
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: assets.tools.virsh });
    stateDir = await mkdtemp(join(tmpdir(), 'vdsm-realvm-ga-'));
    agent = await AgentProcess.start({ stateDir, args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, ...AGENT_ARGS] });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady(CALL_TIMEOUT_MS);
    consoleLog = join(lv.runDir, `${name}.log`);
    const disk = await createGuestDisk(join(lv.runDir, `${name}.qcow2`), { sizeMiB: 32, owner: lv.owner });
    const xml = tinyGuestXml({ uuid: vmId, name, kernel: assets.kernel, initrd: assets.initrd, consoleLog, disk: { path: disk, serial: DISK_SERIAL } });
    t0 = performance.now();
    await engine.call('VM.create', { vmID: vmId, vmParams: { xml } });
    await engine.waitForEvent(isVmStatus(vmId, 'Up'), BOOT_DEADLINE_MS);
    mark('create to Up');
    // Fail fast (not after minutes of timeouts) on an initramfs built from an older guest-init.sh.
    await waitFor(async () => /tinyguest: ovirt-guest-agent on /.test(await readFile(consoleLog, 'utf8').catch(() => '')), { timeoutMs: 30_000, what: 'the guest\'s ovirt-guest-agent' })
      .catch((err: unknown) => {
        throw new Error(`the guest has no ovirt-guest-agent of this version: rebuild the real-VM assets with bash scripts/realvm/setup.sh (${String((err as Error).message)})`);
      });
  });

  after(async () => {
    process.stderr.write(`guest-agents-real-vm timings: ${timings.join('; ')}\n`);
    engine?.close();
    await agent?.kill();
    await lv?.stop();
    if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
  });

  void it('VM.getStats shows the guest\'s real IPs, host name, OS, file systems, vCPUs and time zone from qemu-ga, as virsh reads them, in the engine\'s types', async () => {
    const s = await until('QEMU guest agent data', (v) => v['guestTimezone'] !== undefined && (v['disksUsage'] as Obj[] | undefined)?.some((d) => d['path'] === '/data') && v['guestCPUCount'] === 1 ? v : undefined);
    mark('QEMU-GA data in stats');
    assert.deepEqual(checkVmStats(s), []);
    const os = await agentCommand('guest-get-osinfo') as Obj;
    const host = await agentCommand('guest-get-host-name') as Obj;
    const fs = await agentCommand('guest-get-fsinfo') as Obj[];
    const ifaces = await agentCommand('guest-network-get-interfaces') as { name: string; 'ip-addresses'?: { 'ip-address-type': string; 'ip-address': string }[] }[];
    const vcpus = await agentCommand('guest-get-vcpus') as { online: boolean }[];
    const tz = await agentCommand('guest-get-timezone') as Obj;
    assert.equal(s['guestName'], host['host-name']);
    assert.equal(s['guestFQDN'], host['host-name']);
    assert.equal(s['guestOs'], os['kernel-release']);
    assert.deepEqual(s['guestOsInfo'], { type: 'linux', arch: 'x86_64', kernel: os['kernel-release'], distribution: os['name'], version: os['version-id'], codename: '' });
    assert.deepEqual(s['guestTimezone'], { offset: Number(tz['offset']) / 60, zone: tz['zone'] });
    assert.equal(s['guestCPUCount'], vcpus.filter((c) => c.online).length);
    const data = fs.find((f) => f['mountpoint'] === '/data')!;
    assert.deepEqual((s['disksUsage'] as Obj[]).find((d) => d['path'] === '/data'), { path: '/data', total: String(data['total-bytes']), used: String(data['used-bytes']), fs: 'ext4' });
    const eth0 = (s['netIfaces'] as Obj[]).find((i) => i['name'] === 'eth0')!;
    const real = ifaces.find((i) => i.name === 'eth0')!;
    assert.deepEqual(eth0['inet'], (real['ip-addresses'] ?? []).filter((a) => a['ip-address-type'] === 'ipv4').map((a) => a['ip-address']));
    assert.ok((eth0['inet'] as string[]).includes('10.0.2.15'));
    assert.match(String(s['guestIPs']), /\b10\.0\.2\.15\b/);
    // Host.getAllVmStats carries the same guest view (the engine's monitoring reads this one).
    const all = (await engine.call<Obj[]>('Host.getAllVmStats')).find((v) => v['vmId'] === vmId)!;
    assert.deepEqual(checkVmStats(all), []);
    for (const k of ['guestName', 'guestOs', 'guestOsInfo', 'guestTimezone', 'guestCPUCount', 'guestIPs', 'netIfaces']) assert.deepEqual(all[k], s[k], k);
  });

  void it('the ovirt-guest-agent channel carries the guest\'s applications, memory and session; merged with qemu-ga\'s data; in a VM_status event', async () => {
    const s = await until('oVirt guest agent data', (v) => ((v['appsList'] as string[]).some((a) => a.startsWith('busybox-')) ? v : undefined));
    const qgaVersion = String(((await agentCommand('guest-info')) as Obj)['version']);
    const apps = s['appsList'] as string[];
    assert.equal(apps.length, 4, apps.join(', '));
    assert.equal(apps[0], `kernel-${String(s['guestOs'])}`);
    assert.match(apps[1]!, /^busybox-\d+\.\d+\.\d+$/);
    assert.equal(apps[2], `qemu-guest-agent-${qgaVersion}`, 'the oVirt list names qemu-ga already: nothing added');
    assert.equal(apps[3], 'tinyguest-init-1');
    assert.match(String(s['memUsage']), /^\d+$/);
    assert.ok(Number(s['memUsage']) > 0 && Number(s['memUsage']) < 100, `memUsage ${String(s['memUsage'])} % from the guest's free RAM`);
    assert.ok(Number((s['memoryStats'] as Obj)['mem_total']) > 0, 'memory-stat from the heartbeat');
    assert.equal(s['session'], 'Unknown', 'no session event yet');
    const withGuest = engine.events().filter((e) => e['method'] === `|virt|VM_status|${vmId}`).map((e) => (e['params'] as Record<string, Obj>)[vmId]!).find((p) => Array.isArray(p['appsList']) && (p['appsList'] as unknown[]).length > 0);
    assert.ok(withGuest, 'a VM_status event carried the guest agent\'s data (vdsm sends one when the agent reports the guest up)');
    for (const e of engine.events().filter((x) => x['method'] === `|virt|VM_status|${vmId}`)) assert.deepEqual(checkVmStatusEvent(e), []);
    assert.equal(lines('ovirt-guest-agent channel connected').length, 1);
  });

  void it('VM.desktopLock, desktopLogin and desktopLogoff reach the guest; its session and the user (qemu-ga\'s utmp view) follow', async () => {
    assert.equal(await engine.call('VM.desktopLock', { vmID: vmId }), true);
    await until('session Locked', (v) => (v['session'] === 'Locked' ? v : undefined), 15_000);
    assert.equal(await engine.call('VM.desktopLogin', { vmID: vmId, domain: '', username: 'alice', password: 's3cret-pw' }), true);
    const s = await until('user alice logged in', (v) => (v['session'] === 'UserLoggedOn' && v['username'] === 'alice' ? v : undefined), 15_000);
    assert.deepEqual(checkVmStats(s), []);
    assert.ok(!agent.lines.some((l) => JSON.stringify(l).includes('s3cret-pw')), 'the password is never logged');
    assert.equal(await engine.call('VM.desktopLogoff', { vmID: vmId, force: false }), true);
    await until('logged off', (v) => (v['session'] === 'LoggedOff' && v['username'] !== 'alice' ? v : undefined), 15_000);
    const console = await readFile(consoleLog, 'utf8');
    assert.match(console, /ovirt-guest-agent: lock-screen/);
    assert.match(console, /ovirt-guest-agent: login alice/);
    mark('desktop verbs');
  });

  void it('bad input from the guest (not JSON, unknown message, a 1.5 MB line, invalid UTF-8, control characters) is logged once per kind; the channel lives on', async () => {
    await hc('garbage');
    const s = await until('the application list sent after the garbage', (v) => ((v['appsList'] as string[]).some((a) => a.startsWith('bad-')) ? v : undefined));
    assert.ok((s['appsList'] as string[]).includes('bad-\ufffd\ufffd-utf8'), 'invalid UTF-8 bytes replaced');
    assert.ok((s['appsList'] as string[]).includes('ctl-\ufffd-char'), 'a control character replaced');
    await hc('garbage');
    // The guest answers refresh with its real list: once that is back, the second burst (before it on the
    // same stream) has been read too.
    await hc('refresh');
    await until('the real application list again', (v) => ((v['appsList'] as string[]).some((a) => a.startsWith('busybox-')) ? v : undefined));
    for (const msg of [/not JSON/, /Unknown message type/, /over the size limit/]) {
      assert.equal(lines(msg).length, 1, `one line for ${String(msg)}: ${JSON.stringify(lines(msg))}`);
    }
    mark('bad input');
  });

  void it('qemu-ga stopped inside the guest: the VM stays Up, one line, back-off, its data ages out; resumed: one line, data back', async () => {
    await until('QEMU-GA data', (v) => (v['guestTimezone'] !== undefined ? v : undefined));
    await hc('qga-stop');
    const failing = await agent.waitForLog((l) => l['vmId'] === vmId && /QEMU guest agent not answering/.test(String(l['msg'])), 20_000);
    mark('qemu-ga stopped: failure seen');
    assert.ok(Number(failing['retryInS']) > 0, 'the line says when it is asked again');
    const aged = await until('QEMU-GA data aged out', (v) => (v['guestTimezone'] === undefined ? v : undefined), (MAX_AGE_S + 15) * 1000);
    mark('qemu-ga data aged out');
    assert.equal(aged['status'], 'Up');
    assert.ok((aged['disksUsage'] as Obj[]).some((d) => d['path'] === '/run'), 'the oVirt agent\'s disk list (with tmpfs) is what remains');
    assert.equal(lines(/QEMU guest agent not answering/).length, 1, 'one line for the whole outage');
    await hc('qga-cont');
    const back = await agent.waitForLog((l) => l['vmId'] === vmId && l['msg'] === 'QEMU guest agent answers again', 30_000);
    mark('qemu-ga resumed: answers again');
    const failed = Number(back['failedCalls']);
    assert.ok(failed >= 1 && failed <= 12, `failed calls during the outage, counted not logged: ${failed}`);
    await until('QEMU-GA data back', (v) => (v['guestTimezone'] !== undefined ? v : undefined));
    assert.equal(lines(/QEMU guest agent not answering/).length, 1);
  });

  void it('qemu-ga killed inside the guest: channel disconnected (one line), data ages out, VM stays Up; restarted: connected, data back', async () => {
    await hc('qga-kill');
    await agent.waitForLog((l) => l['vmId'] === vmId && l['msg'] === 'QEMU guest agent channel disconnected', 20_000);
    const aged = await until('QEMU-GA data aged out', (v) => (v['guestTimezone'] === undefined ? v : undefined), (MAX_AGE_S + 15) * 1000);
    assert.equal(aged['status'], 'Up');
    mark('qemu-ga killed: aged out');
    await hc('qga-start');
    await agent.waitForLog((l) => l['vmId'] === vmId && l['msg'] === 'QEMU guest agent channel connected', 30_000);
    await until('QEMU-GA data back', (v) => (v['guestTimezone'] !== undefined ? v : undefined));
    mark('qemu-ga restarted: data back');
    assert.equal(lines('QEMU guest agent channel disconnected').length, 1);
  });

  void it('VM.shutdown goes through the responsive oVirt agent (message and delay), then Down', async () => {
    const s0 = performance.now();
    assert.equal(await engine.call('VM.shutdown', { vmID: vmId, delay: '1', message: 'maintenance', timeout: '20' }), true);
    const down = await engine.waitForEvent(isVmStatus(vmId, 'Down'), CALL_TIMEOUT_MS);
    timings.push(`shutdown to Down ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    assert.equal((down['params'] as Record<string, Obj>)[vmId]!['exitReason'], 6);
    assert.equal((await agent.waitForLog((l) => l['msg'] === 'Machine shutting down' && l['vmId'] === vmId, 5_000))['method'], 'ovirt-guest-agent');
    assert.match(await readFile(consoleLog, 'utf8'), /ovirt-guest-agent: shutdown \(timeout 1, reboot False\)/);
    assert.equal(await engine.call('VM.destroy', { vmID: vmId }), true);
  });
});
