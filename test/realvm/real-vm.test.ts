// The real-VM tier: a TCG guest under an unprivileged qemu:///session libvirtd, booting the Debian kernel
// and a busybox initramfs that runs the real qemu-ga, driven through virsh as an independent peer.
// Skipped unless scripts/realvm/setup.sh has run; VDSM_REALVM=1 makes missing pieces a failure.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
  type VirshEventWatcher,
} from '../support/realvm/index.js';

const check = await ensureRealVmAssets();
const skip = realVmSkip(check);

// Deadlines for events outside this process. TCG boots in ~5 s idle; 2 busy cores can triple that.
const BOOT_DEADLINE_MS = 120_000;
const STATS_DEADLINE_MS = 60_000;

// Keys the engine-facing sampler reads (vdsm samples STATE|CPU_TOTAL|BALLOON|VCPU|INTERFACE|BLOCK).
const REQUIRED_STATS = [
  'state.state',
  'state.reason',
  'cpu.time',
  'cpu.user',
  'cpu.system',
  'balloon.current',
  'balloon.maximum',
  'balloon.rss',
  'balloon.usable',
  'balloon.available',
  'balloon.unused',
  'balloon.last-update',
  'vcpu.current',
  'vcpu.maximum',
  'vcpu.0.state',
  'vcpu.0.time',
  'net.count',
  'block.count',
  'block.0.name',
  'block.0.path',
  'block.0.rd.reqs',
  'block.0.rd.bytes',
  'block.0.wr.reqs',
  'block.0.capacity',
  'block.0.allocation',
  'block.0.physical',
];

interface Guest {
  readonly name: string;
  readonly uuid: string;
  readonly xmlPath: string;
  readonly consoleLog: string;
}

async function prepareGuest(lv: SessionLibvirtd, assets: RealVmAssets, tag: string): Promise<Guest> {
  const uuid = randomUUID();
  // Short names: libvirt puts the channel sockets under domain-N-<name>, inside a 108-byte sun_path.
  const name = `tiny-${tag}-${uuid.slice(0, 4)}`;
  const disk = await createGuestDisk(join(lv.runDir, `${name}.qcow2`), { sizeMiB: 64, owner: lv.owner });
  const consoleLog = join(lv.runDir, `${name}.console.log`);
  const xml = tinyGuestXml({ uuid, name, kernel: assets.kernel, initrd: assets.initrd, disk: { path: disk }, consoleLog });
  const xmlPath = join(lv.runDir, `${name}.xml`);
  await writeFile(xmlPath, xml);
  return { name, uuid, xmlPath, consoleLog };
}

async function consoleTail(guest: Guest): Promise<string> {
  const text = await readFile(guest.consoleLog, 'utf8').catch(() => '(no console log)');
  return text.split('\n').slice(-15).join('\n');
}

/** Wait for qemu-ga inside the guest to answer guest-ping through libvirt. */
async function waitForAgent(virsh: Virsh, guest: Guest): Promise<void> {
  try {
    await waitFor(async () => (await virsh.agentCommand(guest.name, 'guest-ping', undefined, 2)) !== undefined, {
      timeoutMs: BOOT_DEADLINE_MS,
      intervalMs: 250,
      what: `qemu-ga in ${guest.name}`,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nguest console:\n${await consoleTail(guest)}`, { cause: err });
  }
}

/** The host end of the ovirt-guest-agent.0 channel: QEMU listens, we connect as vdsm does. */
function readOvirtAgentLine(socketPath: string, wanted: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no ${wanted} message on ${socketPath} within ${timeoutMs} ms; got: ${buf.slice(0, 500)}`));
    }, timeoutMs);
    sock.once('connect', () => sock.write('{"__name__":"refresh","apiVersion":3}\n'));
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (const line of buf.split('\n').slice(0, -1)) {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (msg['__name__'] === wanted) {
          clearTimeout(timer);
          sock.destroy();
          resolvePromise(msg);
          return;
        }
      }
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

void describe('real VM under qemu:///session (TCG)', { skip, timeout: 300_000 }, () => {
  let assets: RealVmAssets;
  let lv: SessionLibvirtd;
  let virsh: Virsh;
  let events: VirshEventWatcher;

  before(async () => {
    // Only reached with VDSM_REALVM=1: then missing pieces are a failure, not a skip.
    if (!check.ok) throw new Error(`VDSM_REALVM=1 but the real-VM tier is not set up: missing ${check.missing.join(', ')}; ${check.hint}`);
    assets = check.assets;
    lv = await startSessionLibvirtd();
    virsh = new Virsh(lv.uri('qemu'), { binary: assets.tools.virsh });
    events = virsh.watchEvents();
  });

  after(async () => {
    await events?.close();
    await lv?.stop();
  });

  void test('the same daemon serves the test driver', async () => {
    const test = new Virsh(lv.uri('test'), { binary: assets.tools.virsh });
    assert.deepEqual(await test.listAll(), ['test']);
  });

  void test('create: qemu-ga answers, bulk stats are real, the agent channels work; destroy removes it', async (t) => {
    const guest = await prepareGuest(lv, assets, 'a');
    const t0 = performance.now();
    await virsh.create(guest.xmlPath);
    const created = performance.now();
    assert.equal(await virsh.domstate(guest.name), 'running');

    await waitForAgent(virsh, guest);
    const agentUp = performance.now();
    await events.waitFor(
      (e) => e.domain === guest.name && e.type === 'agent-lifecycle' && e.detail.includes("state: 'connected'"),
      10_000,
      'AGENT_LIFECYCLE connected',
    );

    // The guest's own values, not the host's: this is the qemu-ga inside the VM.
    assert.deepEqual(await virsh.agentCommand(guest.name, 'guest-get-host-name'), { 'host-name': 'tinyguest' });
    const osinfo = (await virsh.agentCommand(guest.name, 'guest-get-osinfo')) as Record<string, string>;
    assert.equal(osinfo['kernel-release'], assets.manifest.kernelAbi);
    const info = (await virsh.agentCommand(guest.name, 'guest-info')) as { version: string; supported_commands: { name: string; enabled: boolean }[] };
    assert.equal(info.version, assets.manifest.qemuGaVersion);
    const enabled = new Map(info.supported_commands.map((c) => [c.name, c.enabled]));
    assert.equal(enabled.get('guest-exec'), false, 'guest-exec is on the block list');
    assert.equal(enabled.get('guest-network-get-interfaces'), true);
    await assert.rejects(virsh.agentCommand(guest.name, 'guest-exec', { path: '/bin/true' }), /disabled/);
    const ifaces = (await virsh.agentCommand(guest.name, 'guest-network-get-interfaces')) as { name: string; 'ip-addresses'?: { 'ip-address': string }[] }[];
    const eth0 = ifaces.find((i) => i.name === 'eth0');
    assert.ok(eth0?.['ip-addresses']?.some((a) => a['ip-address'] === '10.0.2.15'), JSON.stringify(ifaces));

    // Balloon guest stats appear once the virtio_balloon driver has reported (stats period 2 s).
    const stats = await waitFor(
      async () => {
        const s = await virsh.domstats(guest.name);
        return 'balloon.usable' in s ? s : undefined;
      },
      { timeoutMs: STATS_DEADLINE_MS, intervalMs: 500, what: 'guest balloon stats' },
    );
    for (const key of REQUIRED_STATS) assert.ok(key in stats, `bulk stats lack ${key}: ${Object.keys(stats).join(' ')}`);
    assert.equal(stats['state.state'], '1');
    assert.equal(stats['block.count'], '1');
    assert.equal(stats['block.0.name'], 'vda');
    assert.equal(stats['balloon.maximum'], String(128 * 1024));
    assert.ok(Number(stats['cpu.time']) > 0);
    assert.ok(Number(stats['block.0.rd.reqs']) > 0, 'the guest kernel probed the disk');
    t.diagnostic(`bulk stats keys (${Object.keys(stats).length}): ${Object.keys(stats).sort().join(' ')}`);

    // vdsm's ovirt-guest-agent channel: the guest's /init writes heartbeats to it.
    const xml = await virsh.dumpxml(guest.name);
    assert.match(xml, /<ovirt-vm:clusterVersion>4\.7<\/ovirt-vm:clusterVersion>/, 'the engine metadata survives in the live XML');
    const ovirtSock = /<source mode='bind' path='([^']+\/ovirt-guest-agent\.0)'/.exec(xml)?.[1];
    assert.ok(ovirtSock, 'ovirt-guest-agent.0 channel socket in the live XML');
    const heartbeat = await readOvirtAgentLine(ovirtSock, 'heartbeat', 30_000);
    assert.equal(heartbeat['apiVersion'], 3);
    assert.match(String(heartbeat['free-ram']), /^\d+$/);

    assert.match(await virsh.domdisplay(guest.name), /^vnc:\/\/127\.0\.0\.1:\d+/);

    const d0 = performance.now();
    await virsh.destroy(guest.name);
    const destroyed = performance.now();
    assert.ok(!(await virsh.listAll()).includes(guest.name), 'a destroyed transient domain is gone');
    await assert.rejects(virsh.domstate(guest.name), /Domain not found|failed to get domain/);
    await events.waitFor(
      (e) => e.domain === guest.name && e.type === 'lifecycle' && e.detail === 'Stopped Destroyed',
      10_000,
      'STOPPED/DESTROYED',
    );
    t.diagnostic(
      `timings: create ${seconds(created - t0)} s, create to guest-ping ${seconds(agentUp - t0)} s, destroy ${seconds(destroyed - d0)} s`,
    );
  });

  void test('shutdown through the guest agent powers the guest off', async (t) => {
    const guest = await prepareGuest(lv, assets, 'b');
    await virsh.create(guest.xmlPath);
    await waitForAgent(virsh, guest);
    const s0 = performance.now();
    await virsh.shutdown(guest.name, 'agent');
    await events.waitFor(
      (e) => e.domain === guest.name && e.type === 'lifecycle' && e.detail === 'Stopped Shutdown',
      60_000,
      'STOPPED/SHUTDOWN',
    );
    t.diagnostic(`agent shutdown to STOPPED: ${seconds(performance.now() - s0)} s`);
    assert.ok(!(await virsh.listAll()).includes(guest.name));
    assert.match(await readFile(guest.consoleLog, 'utf8'), /tinyguest: shutdown/);
  });
});
