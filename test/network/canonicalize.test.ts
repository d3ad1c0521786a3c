// setupNetworks' arguments as the engine sends them (HostSetupNetworksVDSCommand: strings for booleans
// and numbers, prefix or netmask, '::' for no IPv6 gateway) turned into vdsm's canonical form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalizeBond, canonicalizeNetwork, canonicalizeOptions, canonicalizeRequest, compressIpv6, netmaskToPrefix, prefixToNetmask } from '../../src/network/canonicalize.js';

const code = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as { vdsmCode?: number }).vdsmCode;
  }
  return undefined;
};

void test('the engine\'s management network becomes canonical: defaults filled, strings typed', () => {
  const net = canonicalizeNetwork('ovirtmgmt', { nic: 'eth0', vlan: '100', mtu: 1500, bridged: 'true', stp: 'no', ipaddr: '192.0.2.10', prefix: '24', gateway: '192.0.2.1', defaultRoute: true, switch: 'legacy', dhcpv6: false, ipv6autoconf: false, ipv6gateway: '::' }, ['192.0.2.53']);
  assert.deepEqual(net, {
    nic: 'eth0', vlan: 100, mtu: 1500, bridged: true, stp: false, bootproto: 'none', ipaddr: '192.0.2.10', netmask: '255.255.255.0', gateway: '192.0.2.1',
    ipv6autoconf: false, dhcpv6: false, defaultRoute: true, nameservers: ['192.0.2.53'], switch: 'legacy',
  });
  const bare = canonicalizeNetwork('n', { bonding: 'bond0' }, ['192.0.2.53']);
  assert.equal(Object.hasOwn(bare, 'remove'), false);
  assert.deepEqual(bare, { bonding: 'bond0', bridged: true, stp: false, mtu: 1500, bootproto: 'none', ipv6autoconf: false, dhcpv6: false, defaultRoute: false, nameservers: [], switch: 'legacy' });
});

void test('removal, IPv6 compression, prefix and netmask, bond slaves sorted', () => {
  assert.deepEqual(canonicalizeNetwork('n', { remove: 'true' }, []), { remove: true });
  assert.equal(code(() => canonicalizeNetwork('n', { remove: true, nic: 'eth0' }, [])), 21);
  assert.equal((canonicalizeNetwork('n', { nic: 'eth0', ipv6addr: '2001:0DB8:0:0::0010/64' }, []) as { ipv6addr: string }).ipv6addr, '2001:db8::10/64');
  assert.equal(compressIpv6('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(compressIpv6('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  assert.equal(prefixToNetmask(20), '255.255.240.0');
  assert.equal(netmaskToPrefix('255.255.240.0'), 20);
  assert.equal(netmaskToPrefix('255.0.255.0'), undefined);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', ipaddr: '192.0.2.1', prefix: '24', netmask: '255.255.255.0' }, [])), 21);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', ipaddr: '192.0.2.1', prefix: '33' }, [])), 22);
  assert.deepEqual(canonicalizeBond('bond0', { nics: ['eth2', 'eth1'], options: ' mode=4   miimon=100 ' }), { nics: ['eth1', 'eth2'], options: 'mode=4 miimon=100', switch: 'legacy' });
});

void test('unreadable values get vdsm\'s codes: VLAN 26, STP 21, bootproto 21, OVS 21, unknown attribute 21', () => {
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', vlan: 'ten' }, [])), 26);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', stp: 'maybe' }, [])), 21);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', bootproto: 'bootp' }, [])), 21);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', switch: 'ovs' }, [])), 21);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: 'eth0', colour: 'blue' }, [])), 21);
  assert.equal(code(() => canonicalizeNetwork('n', { nic: ['eth0', 'eth1'] }, [])), 25);
});

void test('a new default route network takes the role from the running one; two in one request are refused', () => {
  const running = { networks: { old: canonicalizeNetwork('old', { nic: 'eth0', ipaddr: '192.0.2.10', prefix: '24', gateway: '192.0.2.1', defaultRoute: true }, ['192.0.2.53']) as never }, bonds: {} };
  const req = canonicalizeRequest({ fresh: { nic: 'eth1', bootproto: 'dhcp', defaultRoute: 'true' } }, {}, running, []);
  assert.equal((req.networks['old'] as { defaultRoute: boolean }).defaultRoute, false);
  assert.deepEqual((req.networks['old'] as { nameservers: string[] }).nameservers, []);
  assert.equal(code(() => canonicalizeRequest({ a: { nic: 'eth0', defaultRoute: true }, b: { nic: 'eth1', defaultRoute: true } }, {}, { networks: {}, bonds: {} }, [])), 21);
});

void test('options: vdsm\'s defaults (check on, 4 s), the engine\'s "true" strings', () => {
  assert.deepEqual(canonicalizeOptions(undefined), { connectivityCheck: true, connectivityTimeout: 4, commitOnSuccess: false });
  assert.deepEqual(canonicalizeOptions({ connectivityCheck: 'true', connectivityTimeout: 120, commitOnSuccess: true }), { connectivityCheck: true, connectivityTimeout: 120, commitOnSuccess: true });
  assert.equal(canonicalizeOptions({ connectivityCheck: 'false' }).connectivityCheck, false);
  assert.equal(canonicalizeOptions({ connectivityCheck: 0 }).connectivityCheck, false);
  assert.equal(code(() => canonicalizeOptions({ connectivityTimeout: 'soon' })), 21);
});
