// setupNetworks' checks (vdsm's codes, nothing planned on failure) and the plans they lead to, on
// snapshots as `ip -json` prints them: VLAN networks on a bond (this test machine's kernel has neither
// 802.1Q nor bonding, so these plans are checked here and applied in the netns tests only where the
// kernel allows), idempotence, and the rollback plan that puts a released NIC back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalizeRequest } from '../../src/network/canonicalize.js';
import { parseSnapshot } from '../../src/network/kernel-state.js';
import { nicFilter } from '../../src/network/netinfo.js';
import { plan, type Step } from '../../src/network/planner.js';
import { validateRequest } from '../../src/network/validate.js';
import type { KernelSnapshot, NetConfig } from '../../src/network/types.js';
import { FAKE_NICS, plainHost, rawFacts } from './fixtures.js';

const EMPTY: NetConfig = { networks: {}, bonds: {} };

function desired(snap: KernelSnapshot, networks: Record<string, unknown>, bondings: Record<string, unknown> = {}, running: NetConfig = EMPTY): NetConfig {
  return validateRequest(canonicalizeRequest(networks, bondings, running, []), running, snap, nicFilter(FAKE_NICS)(snap));
}

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { vdsmCode?: number }).vdsmCode;
  }
  return undefined;
}

const ipLines = (steps: Step[]): string[] => steps.filter((s) => s.kind === 'ip').map((s) => (s as { args: string[] }).args.join(' '));

void test('bad input: unknown NIC 23, VLAN 26, bond mode and options 25, addresses 22, shared device 21, bond in use 31, names 27', () => {
  const snap = plainHost();
  const running = desired(snap, { ovirtmgmt: { nic: 'eth0', ipaddr: '192.0.2.10', prefix: '24', gateway: '192.0.2.1', defaultRoute: true } });
  const cases: [Record<string, unknown>, Record<string, unknown>, number][] = [
    [{ n: { nic: 'eth9' } }, {}, 23],
    [{ n: { nic: 'lo' } }, {}, 23],
    [{ n: { nic: 'eth1', vlan: 4095 } }, {}, 26],
    [{ n: { nic: 'eth1', vlan: -1 } }, {}, 26],
    [{}, { bond0: { nics: ['eth1', 'eth2'], options: 'mode=8' } }, 25],
    [{}, { bond0: { nics: ['eth1'], options: 'mode=1 frobnicate=2' } }, 25],
    [{}, { bond0: { nics: ['eth1'], options: 'mode' } }, 25],
    [{}, { team0: { nics: ['eth1'] } }, 25],
    [{}, { bond0: { nics: [] } }, 23],
    [{ n: { bonding: 'bond5' } }, {}, 25],
    [{ n: { nic: 'eth1', ipaddr: '192.0.2.10', prefix: '24' } }, {}, 22],
    [{ n: { nic: 'eth1', ipaddr: '192.0.2.300', prefix: '24' } }, {}, 22],
    [{ n: { nic: 'eth1', ipaddr: '198.51.100.2' } }, {}, 22],
    [{ n: { nic: 'eth1', gateway: '198.51.100.1' } }, {}, 22],
    [{ n: { nic: 'eth1', bootproto: 'dhcp', ipaddr: '198.51.100.2', prefix: '24' } }, {}, 22],
    [{ n: { nic: 'eth0' } }, {}, 21],
    [{ n: { nic: 'eth1', bridged: false }, m: { nic: 'eth1', bridged: true } }, {}, 21],
    [{ n: { nic: 'eth1', mtu: 40 } }, {}, 21],
    [{ n: { nic: 'eth1', nameservers: ['192.0.2.53'] } }, {}, 21],
    [{ 'too-long-bridge-name': { nic: 'eth1' } }, {}, 27],
    [{ 'a:b': { nic: 'eth1' } }, {}, 27],
    [{ gone: { remove: true } }, {}, 27],
    [{ n: { nic: 'eth1' } }, { bond0: { nics: ['eth1', 'eth2'] } }, 24],
  ];
  for (const [networks, bondings, code] of cases) {
    assert.equal(codeOf(() => desired(snap, networks, bondings, running)), code, JSON.stringify({ networks, bondings }));
  }
  // A bond in use by a network cannot go.
  const withBond = desired(snap, { n: { bonding: 'bond0' } }, { bond0: { nics: ['eth1', 'eth2'] } }, running);
  assert.equal(codeOf(() => desired(snap, {}, { bond0: { remove: true } }, withBond)), 31);
});

void test('VLAN networks on a bond: the bond, its slaves (down, enslaved, up), VLAN devices over it, a bridge per network, in that order', () => {
  const snap = plainHost();
  const cfg = desired(snap, {
    red: { bonding: 'bond0', vlan: '100', bridged: 'true', ipaddr: '198.51.100.2', prefix: '24' },
    blue: { bonding: 'bond0', vlan: '200', bridged: 'false', mtu: 9000 },
  }, { bond0: { nics: ['eth2', 'eth1'], options: 'mode=4 miimon=100 lacp_rate=fast' } });
  const lines = ipLines(plan(snap, EMPTY, cfg));
  const at = (l: string): number => {
    const i = lines.indexOf(l);
    assert.ok(i >= 0, `${l} in\n${lines.join('\n')}`);
    return i;
  };
  const bond = at('link add name bond0 type bond mode 802.3ad miimon 100 lacp_rate fast');
  assert.ok(bond < at('link set dev eth1 down') && at('link set dev eth1 down') < at('link set dev eth1 master bond0'));
  assert.ok(at('link set dev eth2 master bond0') < at('link add link bond0 name bond0.100 type vlan id 100'));
  assert.ok(at('link add link bond0 name bond0.200 type vlan id 200') < at('link set dev bond0.100 master red'));
  assert.ok(at('link add name red type bridge stp_state 0') < at('link set dev bond0.100 master red'));
  assert.ok(at('link set dev bond0 mtu 9000') < at('link set dev bond0.200 mtu 9000'), 'the bond carries the largest MTU of its VLANs');
  at('link set dev bond0.100 mtu 1500');
  at('addr replace 198.51.100.2/24 dev red');
  assert.ok(!lines.some((l) => l.includes('blue')), 'a bridgeless network has no device of its own');
});

void test('a plan for what the kernel already has is empty; the rollback plan removes what was built and puts the released NIC back', () => {
  const before = plainHost();
  const cfg = desired(before, { ovirtmgmt: { nic: 'eth0', ipaddr: '192.0.2.10', prefix: '24', gateway: '192.0.2.1', defaultRoute: true } });
  const forward = ipLines(plan(before, EMPTY, cfg));
  assert.deepEqual(forward, [
    'link add name ovirtmgmt type bridge stp_state 0',
    'addr flush dev eth0 scope global',
    'link set dev eth0 master ovirtmgmt',
    'link set dev ovirtmgmt mtu 1500',
    'link set dev ovirtmgmt up',
    'addr replace 192.0.2.10/24 dev ovirtmgmt',
    'route replace default via 192.0.2.1 dev ovirtmgmt',
  ]);
  const after = parseSnapshot({
    ...rawFacts([
      { name: 'lo', addrs: ['127.0.0.1/8'] }, { name: 'eth0', master: 'ovirtmgmt', slaveKind: 'bridge', addrs: ['fe80::1/64'] }, { name: 'eth1' }, { name: 'eth2' },
      { name: 'veth_x1', kind: 'veth' }, { name: 'ovirtmgmt', kind: 'bridge', addrs: ['192.0.2.10/24'] },
    ], [{ dev: 'ovirtmgmt', gateway: '192.0.2.1' }]),
    sysctl: { ovirtmgmt: { autoconf: '0', acceptRa: '0' } },
  });
  assert.deepEqual(plan(after, cfg, cfg), [], 'nothing to do');
  const back = ipLines(plan(after, cfg, EMPTY, { restore: before }));
  assert.deepEqual(back, [
    'link del dev ovirtmgmt',
    'link set dev eth0 up',
    'addr replace 192.0.2.10/24 dev eth0',
    'route replace default via 192.0.2.1 dev eth0',
  ]);
});

void test('netinfo: bonds with numeric modes and string options, VLANs, bridges, networks with switch, MTUs as strings', async () => {
  const { buildNetInfo } = await import('../../src/network/netinfo.js');
  const snap = parseSnapshot(rawFacts([
    { name: 'eth1', master: 'bond0', slaveKind: 'bond' }, { name: 'eth2', master: 'bond0', slaveKind: 'bond' },
    { name: 'bond0', kind: 'bond', bond: { mode: '802.3ad', miimon: 100 }, mtu: 9000 },
    { name: 'bond0.100', kind: 'vlan', vlan: { id: 100, parent: 'bond0' }, master: 'red', slaveKind: 'bridge' },
    { name: 'red', kind: 'bridge', stp: 1, addrs: ['198.51.100.2/24'] },
  ]));
  const running: NetConfig = { networks: { red: { bonding: 'bond0', vlan: 100, bridged: true, stp: true, mtu: 1500, bootproto: 'none', ipaddr: '198.51.100.2', netmask: '255.255.255.0', ipv6autoconf: false, dhcpv6: false, defaultRoute: false, nameservers: [], switch: 'legacy' } }, bonds: { bond0: { nics: ['eth1', 'eth2'], options: 'mode=4 miimon=100', switch: 'legacy' } } };
  const r = buildNetInfo(snap, running, nicFilter(FAKE_NICS)(snap), ['192.0.2.53']);
  assert.deepEqual(r.bondings['bond0']?.['opts'], { mode: '4', miimon: '100' });
  assert.deepEqual(r.bondings['bond0']?.['slaves'], ['eth1', 'eth2']);
  assert.equal(r.bondings['bond0']?.['mtu'], '9000');
  assert.equal(r.nics['eth1']?.['permhwaddr'], r.nics['eth1']?.['hwaddr']);
  assert.equal(typeof r.nics['eth1']?.['speed'], 'number');
  assert.deepEqual({ iface: r.vlans['bond0.100']?.['iface'], vlanid: r.vlans['bond0.100']?.['vlanid'] }, { iface: 'bond0', vlanid: 100 });
  assert.deepEqual(r.bridges['red']?.['ports'], ['bond0.100']);
  assert.equal(r.bridges['red']?.['stp'], 'on');
  const red = r.networks['red']!;
  assert.deepEqual({ iface: red['iface'], bridged: red['bridged'], switch: red['switch'], southbound: red['southbound'], vlanid: red['vlanid'], addr: red['addr'], netmask: red['netmask'], mtu: red['mtu'] },
    { iface: 'red', bridged: true, switch: 'legacy', southbound: 'bond0.100', vlanid: 100, addr: '198.51.100.2', netmask: '255.255.255.0', mtu: '1500' });
  assert.deepEqual(r.nameservers, ['192.0.2.53']);
});

void test('restore-nets after a reboot: the running configuration of the last boot counts only where the kernel has it', async () => {
  const { presentIn } = await import('../../src/network/applier.js');
  // The last boot ran ovirtmgmt (safe) and a bridgeless network on eth1 with a static address (unsafe).
  // This boot's kernel has no bridge, and the distribution gave eth1 an address of its own.
  const mgmt = { ovirtmgmt: { nic: 'eth0', ipaddr: '192.0.2.10', prefix: '24', gateway: '192.0.2.1', defaultRoute: true } };
  const safe = desired(plainHost(), mgmt);
  const recorded = desired(plainHost(), { ...mgmt, extra: { nic: 'eth1', bridged: false, ipaddr: '198.18.0.10', prefix: '24' } });
  const booted = parseSnapshot(rawFacts([
    { name: 'lo', addrs: ['127.0.0.1/8'] }, { name: 'eth0', addrs: ['192.0.2.10/24'] }, { name: 'eth1', addrs: ['10.0.0.5/24'] }, { name: 'eth2' },
  ]));
  const present = presentIn(recorded, booted);
  assert.deepEqual(present, EMPTY);
  const lines = ipLines(plan(booted, present, safe));
  assert.ok(lines.includes('link add name ovirtmgmt type bridge stp_state 0'), lines.join('\n'));
  assert.ok(lines.includes('addr replace 192.0.2.10/24 dev ovirtmgmt'), lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('eth1')), `eth1 keeps the address this boot gave it:\n${lines.join('\n')}`);
  // While the network is really there (its address on the NIC), it is taken down as unsafe.
  const running = parseSnapshot(rawFacts([
    { name: 'lo', addrs: ['127.0.0.1/8'] }, { name: 'eth0', addrs: ['192.0.2.10/24'] }, { name: 'eth1', addrs: ['198.18.0.10/24'] }, { name: 'eth2' },
  ]));
  assert.deepEqual(Object.keys(presentIn(recorded, running).networks), ['extra']);
  assert.ok(ipLines(plan(running, presentIn(recorded, running), safe)).includes('addr flush dev eth1 scope global'));
});
