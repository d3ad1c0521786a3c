// Host networking with real peers, in network namespaces this test creates, arranged as in production:
// supervdsmd (root) and vdsmd (as an unprivileged user the test creates) in the host namespace, vdsmd
// asking the helper for every network change; the engine's client (npm stompit) in another namespace;
// Debian's dnsmasq serving DHCP in a third. The engine's install path end to end; bad input answered
// with vdsm's codes and nothing changed; a change that cuts the engine off rolled back after the
// timeout (ip -json before/after compared); a DHCP network; kill -9 mid-change of vdsmd (the helper
// rolls back at once), of supervdsmd (the restarted helper rolls back from its journal) and of both (a
// crash of the host's software: `vdsm-tool restore-nets`).
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AgentProcess } from '../helpers/agent-process.js';
import { checkCapabilities } from '../helpers/engine-types.js';
import type { JsonLineProcess } from '../helpers/json-line-process.js';
import { EngineInNetns, labUnavailable, NetnsLab, run, until } from '../helpers/netns-lab.js';
import { SupervdsmProcess } from '../helpers/supervdsm-process.js';
import { createTestAccount, type TestAccount } from '../helpers/test-account.js';

const VDSM_TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));
const HOST = '192.0.2.10';

const unavailable = await labUnavailable();
if (unavailable !== undefined && process.env['CI'] === 'true') throw new Error(`host networking lab: ${unavailable}`);

/** A log line of `proc` with this message, logged after its line number `from`. */
function logged(proc: JsonLineProcess, from: number, msg: string): (l: Record<string, unknown>) => boolean {
  return (l) => l['msg'] === msg && proc.lines.indexOf(l) >= from;
}

type Caps = Record<string, Record<string, Record<string, unknown>>> & Record<string, unknown>;

/** The management network as HostSetupNetworksVDSCommand builds it for the install path. */
function ovirtmgmt(address: string, gateway: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { nic: 'veth_m0', mtu: 1500, bridged: 'true', stp: 'no', ipaddr: address, prefix: '24', gateway, defaultRoute: true, switch: 'legacy', ...extra };
}

void describe('host networking against real peers in network namespaces', { skip: unavailable, concurrency: false }, () => {
  let lab: NetnsLab;
  let helper: SupervdsmProcess;
  let agent: AgentProcess;
  let engine: EngineInNetns;
  let account: TestAccount;
  let stateDir: string;
  let runDir: string;
  /** What both daemons are given (the packaged units share VDSM_ARGS the same way). */
  const shared = (): string[] => [
    '--set', `vars.state_dir=${stateDir}`, '--set', `vars.run_dir=${runDir}`,
    '--set', `vars.net_resolv_conf=${join(lab.dir, 'resolv.conf')}`,
    '--set', `supervdsm.user=${account.user}`, '--set', `supervdsm.group=${account.group}`,
  ];
  const startHelper = (): Promise<SupervdsmProcess> => SupervdsmProcess.start(shared(), { netns: lab.host });
  const startAgent = (): Promise<AgentProcess> => AgentProcess.start({
    netns: lab.host, stateDir, runDir, asUser: account,
    args: [...shared(), '--set', 'supervdsm.enable=true', '--set', 'addresses.management_ip=0.0.0.0'],
  });

  before(async () => {
    lab = await NetnsLab.create();
    await lab.startDhcpServer();
    account = await createTestAccount();
    await chmod(lab.dir, 0o755);
    stateDir = join(lab.dir, 'state');
    runDir = join(lab.dir, 'run');
    for (const d of [stateDir, runDir]) {
      await mkdir(d, { mode: 0o755 });
      await chown(d, account.uid, account.gid);
    }
    helper = await startHelper();
    agent = await startAgent();
    await agent.whenReady();
    engine = new EngineInNetns(lab.engine);
    await engine.connect('a', HOST, agent.port);
  });

  after(async () => {
    engine?.stop();
    await agent?.kill();
    await helper?.kill();
    await lab?.cleanup();
    await account?.cleanup();
  });

  void it('vdsmd runs unprivileged and leaves the network to the helper', async () => {
    const status = await readFile(`/proc/${agent.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${account.uid}\\s+${account.uid}\\s+${account.uid}\\s+${account.uid}$`, 'm'));
    assert.match(status, /^CapEff:\s+0+$/m, 'no capabilities (CAP_NET_ADMIN least of all)');
    await agent.waitForLog((l) => l['msg'] === 'connected to supervdsm' && l['serverPid'] === helper.pid, 30_000);
  });

  void it('install path: caps without ovirtmgmt, setupNetworks moves the address onto the bridge, reconnect, confirmConnectivity, setSafeNetworkConfig, caps with ovirtmgmt', async () => {
    const caps0 = await engine.call<Caps>('a', 'Host.getCapabilities');
    assert.equal(caps0['networks']['ovirtmgmt'], undefined);
    assert.equal(caps0['nics']['veth_m0']?.['addr'], HOST);
    assert.equal(caps0['lastClientIface'], 'veth_m0');
    assert.ok(checkCapabilities(caps0, { managementNetwork: 'ovirtmgmt', hostAddress: HOST }).some((v) => v.startsWith('networks.ovirtmgmt')));

    const from = helper.lines.length;
    const pending = engine.request('a', 'Host.setupNetworks', {
      networks: { ovirtmgmt: ovirtmgmt(HOST, '192.0.2.1') }, bondings: {},
      options: { connectivityCheck: 'true', connectivityTimeout: 60, commitOnSuccess: false },
    }, 90_000);
    await helper.waitForLog(logged(helper, from, 'setupNetworks: applied; waiting for the engine to reach the host'), 30_000);
    // The engine reconnects and polls confirmConnectivity while its setupNetworks call is in flight.
    await engine.connect('b', HOST, agent.port);
    assert.equal(await engine.call('b', 'Host.confirmConnectivity'), true);
    const answered = await pending;
    assert.equal(answered.ok, true, JSON.stringify(answered.error));
    assert.equal(answered.result, true);

    const dirty = await engine.call<Caps>('b', 'Host.getCapabilities');
    assert.equal(dirty['netConfigDirty'], 'True', 'not yet saved');
    assert.equal(await engine.call('b', 'Host.setSafeNetworkConfig'), true);

    const caps = await engine.call<Caps>('b', 'Host.getCapabilities');
    const net = caps['networks']['ovirtmgmt']!;
    assert.equal(net['bridged'], true);
    assert.equal(net['iface'], 'ovirtmgmt');
    assert.equal(net['switch'], 'legacy');
    assert.equal(net['addr'], HOST);
    assert.equal(net['gateway'], '192.0.2.1');
    assert.deepEqual(net['ports'], ['veth_m0']);
    assert.equal(caps['bridges']['ovirtmgmt']?.['addr'], HOST);
    assert.equal(caps['nics']['veth_m0']?.['addr'], '', 'as a bridge port the NIC has no address');
    assert.equal(caps['lastClientIface'], 'ovirtmgmt');
    assert.equal(caps['netConfigDirty'], 'False');
    assert.deepEqual(checkCapabilities(caps, { managementNetwork: 'ovirtmgmt', hostAddress: HOST }).filter((v) => v.startsWith('networks') || v.startsWith('bridges') || v.startsWith('nics')), []);

    // The kernel, as ip shows it (independently of the agent's report).
    const st = await lab.state();
    assert.equal(st['ovirtmgmt']?.kind, 'bridge');
    assert.deepEqual(st['ovirtmgmt']?.addrs, [`${HOST}/24`]);
    assert.deepEqual(st['ovirtmgmt']?.defaultRoutes, ['via 192.0.2.1']);
    assert.equal(st['veth_m0']?.master, 'ovirtmgmt');
    assert.deepEqual(st['veth_m0']?.addrs, []);
  });

  void it('bad input gets vdsm\'s network error codes and changes nothing', async () => {
    const before = await lab.state();
    const cases: [string, Record<string, unknown>, Record<string, unknown>, number][] = [
      ['unknown NIC', { n1: { nic: 'veth_nope' } }, {}, 23],
      ['VLAN id out of range', { n1: { nic: 'veth_x1', vlan: '4095' } }, {}, 26],
      ['invalid bond mode', {}, { bond7: { nics: ['veth_x1'], options: 'mode=9 miimon=100' } }, 25],
      ['unknown bond option', {}, { bond7: { nics: ['veth_x1'], options: 'mode=1 bogus=1' } }, 25],
      ['an address another network has', { n1: { nic: 'veth_x1', bridged: 'false', ipaddr: HOST, prefix: '24' } }, {}, 22],
      ['static address with DHCP', { n1: { nic: 'veth_x1', bootproto: 'dhcp', ipaddr: '198.51.100.9', prefix: '24' } }, {}, 22],
      ['a NIC already used by another bridged network', { n2: { nic: 'veth_m0', bridged: 'true' } }, {}, 21],
      ['a bad bridge name', { 'bad.name': { nic: 'veth_x1' } }, {}, 27],
      ['removing a network that does not exist', { nothere: { remove: 'true' } }, {}, 27],
    ];
    for (const [what, networks, bondings, code] of cases) {
      const r = await engine.request('b', 'Host.setupNetworks', { networks, bondings, options: { connectivityCheck: 'false' } });
      assert.equal(r.ok, false, what);
      assert.equal(r.error?.code, code, `${what}: ${String(r.error?.message)}`);
      assert.equal(typeof r.error?.message, 'string');
    }
    assert.deepEqual(await lab.state(), before, 'nothing changed');
    assert.equal((await engine.call<Caps>('b', 'Host.getCapabilities'))['netConfigDirty'], 'False');
  });

  void it('a change that cuts the engine off is rolled back after the timeout; the engine reconnects; ip -json before = after', async () => {
    const before = await lab.state();
    const started = Date.now();
    const from = helper.lines.length;
    const cut = engine.request('b', 'Host.setupNetworks', {
      networks: { ovirtmgmt: ovirtmgmt('203.0.113.10', '203.0.113.1') }, bondings: {},
      options: { connectivityCheck: 'true', connectivityTimeout: 3 },
    }, 120_000);
    const rolled = await helper.waitForLog(logged(helper, from, 'setupNetworks: rolled back'), 60_000);
    assert.equal(rolled['restored'], true);
    assert.ok(Date.now() - started >= 3000, 'not before the timeout');
    await engine.connect('c', HOST, agent.port);
    const caps = await engine.call<Caps>('c', 'Host.getCapabilities');
    assert.equal(caps['networks']['ovirtmgmt']?.['addr'], HOST);
    assert.deepEqual(await lab.state(), before, 'the host namespace as ip -json shows it is back where it was');
    const answer = await cut;
    // The old connection may have recovered (TCP retransmits once the address is back) or died.
    if (answer.ok === false && typeof answer.error?.code === 'number') assert.equal(answer.error.code, 10);
    else assert.notEqual(answer.ok, true, 'the cut-off change is never reported as applied');
  });

  void it('a DHCP network gets its address from dnsmasq; removing it stops the client and drops the lease', async () => {
    assert.equal(await engine.call('c', 'Host.setupNetworks', {
      networks: { dhcpnet: { nic: 'veth_d0', bridged: 'true', bootproto: 'dhcp' } }, bondings: {}, options: { connectivityCheck: 'false' },
    }), true);
    const net = await until('DHCP lease on dhcpnet', async () => {
      const n = (await engine.call<Caps>('c', 'Host.getCapabilities'))['networks']['dhcpnet'];
      return typeof n?.['addr'] === 'string' && n['addr'] !== '' ? n : undefined;
    });
    assert.match(String(net['addr']), /^198\.51\.100\.(5\d|60)$/);
    assert.equal(net['dhcpv4'], true);
    assert.equal(net['netmask'], '255.255.255.0');
    assert.equal((await lab.state())['dhcpnet']?.addrs.length, 1);
    assert.equal(await engine.call('c', 'Host.setupNetworks', { networks: { dhcpnet: { remove: true } }, bondings: {}, options: { connectivityCheck: 'false' } }), true);
    const st = await lab.state();
    assert.equal(st['dhcpnet'], undefined);
    assert.equal(st['veth_d0']?.master, null);
    const cmdlines = await Promise.all((await lab.pids(lab.host)).map(async (p) => (await run('cat', [`/proc/${p}/cmdline`])).stdout));
    assert.ok(!cmdlines.some((c) => c.includes('dhclient')), 'no DHCP client left running');
  });

  /** A change that waits for the engine: a new bridge on the spare NIC and ovirtmgmt's MTU lowered. */
  const unconfirmed = async (): Promise<void> => {
    const from = helper.lines.length;
    await engine.request('c', 'Host.setupNetworks', {
      networks: { extra: { nic: 'veth_x1', bridged: 'true', ipaddr: '198.18.0.10', prefix: '24' }, ovirtmgmt: ovirtmgmt(HOST, '192.0.2.1', { mtu: 1400 }) },
      bondings: {}, options: { connectivityCheck: 'true', connectivityTimeout: 120 },
    }, 1000).catch(() => undefined);
    await helper.waitForLog(logged(helper, from, 'setupNetworks: applied; waiting for the engine to reach the host'), 30_000);
    const mid = await lab.state();
    assert.equal(mid['extra']?.kind, 'bridge', 'the change is in the kernel');
    assert.equal(mid['ovirtmgmt']?.mtu, 1400);
  };

  void it('kill -9 of vdsmd mid-change: supervdsmd rolls the change back at once (ip -json before = after); a new vdsmd serves on', async () => {
    const before = await lab.state();
    await unconfirmed();
    const from = helper.lines.length;
    await agent.kill();
    const rolled = await helper.waitForLog(logged(helper, from, 'setupNetworks: rolled back'), 30_000);
    assert.match(String(rolled['reason']), /vdsmd went away/);
    assert.equal(rolled['restored'], true);
    assert.deepEqual(await lab.state(), before, 'the host namespace as ip -json shows it is back where it was');
    agent = await startAgent();
    await agent.whenReady();
    await engine.connect('c', HOST, agent.port);
    const caps = await engine.call<Caps>('c', 'Host.getCapabilities');
    assert.equal(caps['networks']['extra'], undefined);
    assert.equal(caps['networks']['ovirtmgmt']?.['mtu'], '1500');
  });

  void it('kill -9 of supervdsmd mid-change: the restarted helper rolls the change back from its journal (ip -json before = after)', async () => {
    const before = await lab.state();
    await unconfirmed();
    await helper.kill();
    helper = await startHelper();
    const rolled = await helper.waitForLog((l) => l['msg'] === 'setupNetworks: rolled back', 30_000);
    assert.match(String(rolled['reason']), /left unfinished by a previous process/);
    assert.equal(rolled['restored'], true);
    assert.deepEqual(await lab.state(), before, 'the host namespace as ip -json shows it is back where it was');
    // vdsmd (the same process) reconnects to the new helper and answers from the restored configuration.
    await agent.waitForLog((l) => l['msg'] === 'connected to supervdsm' && l['serverPid'] === helper.pid, 30_000);
    const caps = await engine.call<Caps>('c', 'Host.getCapabilities');
    assert.equal(caps['networks']['extra'], undefined);
    assert.equal(caps['networks']['ovirtmgmt']?.['mtu'], '1500');
  });

  void it('kill -9 of vdsmd and supervdsmd mid-change: restore-nets brings the host back to the safe configuration', async () => {
    const safe = await lab.state();
    await unconfirmed();
    // Both daemons die without any cleanup (as in a crash of the host's software or a power cut).
    // The helper first: with vdsmd gone first, a live helper would roll the change back itself.
    await helper.kill();
    await agent.kill();
    const crashed = await lab.state();
    assert.equal(crashed['extra']?.kind, 'bridge', 'the unsafe change is still in the kernel');

    const tool = (...extra: string[]): ReturnType<typeof run> => run('ip', ['netns', 'exec', lab.host, process.execPath, VDSM_TOOL, 'restore-nets', ...shared(), ...extra]);
    const r = await tool();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /rolled back an unfinished change/);
    assert.deepEqual(await lab.state(), safe, 'ip -json after restore-nets = the safe state');

    const again = await tool();
    assert.match(again.stdout, /already restored in this boot/);

    helper = await startHelper();
    agent = await startAgent();
    await agent.whenReady();
    await engine.connect('d', HOST, agent.port);
    const caps = await engine.call<Caps>('d', 'Host.getCapabilities');
    assert.equal(caps['networks']['extra'], undefined);
    assert.equal(caps['networks']['ovirtmgmt']?.['mtu'], '1500');
    assert.equal(caps['netConfigDirty'], 'False');
  });
});
