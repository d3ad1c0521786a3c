// getCapabilities assembled from canned host facts and libvirt XML, checked key by key against the
// engine's rules, with absent subsystems reported as vdsm reports them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCapabilities } from '../../src/host/capabilities.js';
import { clusterLevels, formatLibvirtVersion } from '../../src/host/packages.js';
import { checkCapabilities } from '../helpers/engine-types.js';
import { bareHostFacts, bigHostFacts, DOMCAPS_XML, QEMU_CAPS_XML, TEST_DRIVER_CAPS_XML } from './caps-fixtures.js';

const big = (): Record<string, unknown> => buildCapabilities({
  facts: bigHostFacts(), libvirtCapabilitiesXml: QEMU_CAPS_XML, domainCapabilitiesXml: DOMCAPS_XML,
  libvirtVersion: 10010000, qemuVersion: 9001000, spiceServerVersion: '0.15.1-3.el9',
});

void test('a full host satisfies every engine rule', () => {
  const caps = big();
  const fixed = { ...caps, emulatedMachines: [...(caps['emulatedMachines'] as string[]), 'pc-q35-rhel9.6.0'] };
  assert.deepEqual(checkCapabilities(fixed, { requireVirtFlags: true }).filter((x) => !x.startsWith('emulatedMachines')), []);
  assert.deepEqual(caps['networks'], {}, 'without host networking no network is claimed (src/network/ reports them)');
});

void test('CPU: topology counts, the per-CPU table as ints, flags with libvirt features and model_ entries', () => {
  const caps = big();
  assert.equal(caps['cpuSockets'], '2');
  assert.equal(caps['cpuCores'], '4');
  assert.equal(caps['cpuThreads'], '8');
  assert.equal(caps['onlineCpus'], '0,1,2,3,4,5,6,7');
  assert.deepEqual((caps['cpuTopology'] as unknown[])[5], { cpu_id: 5, numa_cell_id: 1, socket_id: 1, die_id: 0, core_id: 0 });
  assert.equal(caps['cpuSpeed'], '2100.000');
  assert.equal(caps['cpuModel'], 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz');
  assert.equal(caps['cpuFlags'], 'fpu,vme,vmx,nx,lm,sse2,ss,spec_ctrl,model_Nehalem,model_Skylake-Server-IBRS');
  assert.equal(caps['tscFrequency'], '2095077000');
  assert.equal(caps['tscScaling'], true);
  assert.equal(buildCapabilities({ facts: bigHostFacts(), libvirtCapabilitiesXml: QEMU_CAPS_XML, libvirtVersion: '9.0.0' })['cpuFlags'], 'fpu,vme,vmx,nx,lm,sse2,ds,md-clear,model_Cascadelake-Server-noTSX');
  assert.equal(buildCapabilities({ facts: bigHostFacts(), libvirtCapabilitiesXml: QEMU_CAPS_XML, libvirtVersion: '9.0.0', options: { reportHostThreadsAsCores: true } })['cpuCores'], '8');
});

void test('NUMA: nodes with totalMemory MiB strings and hugepages, distances, memSize', () => {
  const caps = big();
  assert.deepEqual(caps['numaNodes'], {
    0: { totalMemory: '15872', cpus: [0, 1, 2, 3], hugepages: { 4: { totalPages: '4063232' }, 2048: { totalPages: '16' }, 1048576: { totalPages: '0' } } },
    1: { totalMemory: '16384', cpus: [4, 5, 6, 7], hugepages: { 4: { totalPages: '4194304' }, 2048: { totalPages: '0' }, 1048576: { totalPages: '0' } } },
  });
  assert.deepEqual(caps['numaNodeDistance'], { 0: [10, 21], 1: [21, 10] });
  assert.equal(caps['autoNumaBalancing'], 1);
  assert.equal(caps['memSize'], '32256');
  assert.deepEqual(caps['hugepages'], [2048, 1048576]);
});

void test('software: machines for the host arch with canonical names, versions, cluster levels, packages2', () => {
  const caps = big();
  assert.deepEqual(caps['emulatedMachines'], ['pc-i440fx-rhel7.6.0', 'pc', 'pc-q35-rhel9.6.0', 'q35', 'pc-q35-rhel8.6.0']);
  assert.deepEqual(caps['clusterLevels'], ['4.2', '4.3', '4.4', '4.5', '4.6', '4.7', '4.8']);
  assert.deepEqual(caps['supportedENGINEs'], ['4.2', '4.3', '4.4', '4.5']);
  assert.deepEqual(caps['packages2'], {
    kernel: { version: '5.14.0', release: '570.el9.x86_64' }, vdsm: { version: '4.50.7', release: '1' }, libvirt: { version: '10.10.0', release: '' },
    'qemu-kvm': { version: '9.1.0', release: '' }, 'qemu-img': { version: '9.1.0', release: '' }, 'spice-server': { version: '0.15.1', release: '3.el9' },
  });
  assert.deepEqual(caps['operatingSystem'], { name: 'RHEL', version: '9.6', release: 'Plow', pretty_name: 'Red Hat Enterprise Linux 9.6 (Plow)' });
  assert.equal(caps['kernelArgs'], 'BOOT_IMAGE=(hd0,msdos1)/vmlinuz root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M');
  assert.equal(caps['kvmEnabled'], 'true');
  assert.equal(caps['bootTime'], '1700000000');
  assert.deepEqual(caps['selinux'], { mode: '1' });
  assert.equal(caps['kdumpStatus'], 1);
  assert.equal(caps['uuid'], '4c4c4544-0042-3610-8048-b4c04f4e4d32');
  assert.deepEqual(caps['kernelFeatures'], { pti: 0, ibpb: 1, ibrs: -1 });
  assert.deepEqual(caps['hooks'], { before_vm_start: { '50_hostedengine': { checksum: '' } } });
  assert.deepEqual(clusterLevels('8.0.0', '6.2.0'), ['4.2', '4.3', '4.4', '4.5', '4.6', '4.7']);
  assert.deepEqual(clusterLevels('7.10.0', undefined), ['4.2', '4.3', '4.4', '4.5', '4.6']);
  assert.equal(formatLibvirtVersion(9000000), '9.0.0');
});

void test('kvmEnabled is "false" when libvirt\'s QEMU driver cannot use KVM although /dev/kvm exists (session daemon, TCG only)', () => {
  const tcgOnly = QEMU_CAPS_XML.replace("<domain type='kvm'/>", '');
  const caps = buildCapabilities({ facts: bigHostFacts(), libvirtCapabilitiesXml: tcgOnly, libvirtVersion: 9000000 });
  assert.equal(bigHostFacts().kvm, true);
  assert.equal(caps['kvmEnabled'], 'false');
  assert.equal(buildCapabilities({ facts: bigHostFacts(), libvirtCapabilitiesXml: QEMU_CAPS_XML, libvirtVersion: 9000000 })['kvmEnabled'], 'true');
  assert.equal(buildCapabilities({ facts: bigHostFacts(), libvirtCapabilitiesXml: TEST_DRIVER_CAPS_XML, libvirtVersion: 9000000 })['kvmEnabled'], 'true', 'the test driver says nothing about KVM: /dev/kvm decides, as in vdsm');
});

void test('storage inventory: iSCSI initiator and FC HBAs', () => {
  const caps = big();
  assert.equal(caps['ISCSIInitiatorName'], 'iqn.1994-05.com.redhat:6b4d3a2f1e0');
  assert.deepEqual(caps['HBAInventory'], {
    iSCSI: [{ InitiatorName: 'iqn.1994-05.com.redhat:6b4d3a2f1e0' }],
    FC: [{ wwpn: '500143802426baf4', wwnn: '500143802426baf5', model: 'QLE2692 - QLogic 16Gb FC' }],
  });
  assert.deepEqual(caps['rngSources'], ['random']);
});

void test('network: NICs with int speed, bond opts as strings, VLAN id int, bridge ports, gateways, nameservers', () => {
  const caps = big();
  const nics = caps['nics'] as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(nics), ['eno1', 'eno2', 'eno3']);
  assert.equal(nics['eno1']?.['speed'], 10000);
  assert.equal(nics['eno3']?.['speed'], 0);
  assert.deepEqual((caps['bondings'] as Record<string, Record<string, unknown>>)['bond0']?.['opts'], { mode: '4', miimon: '100' });
  assert.deepEqual((caps['bondings'] as Record<string, Record<string, unknown>>)['bond0']?.['slaves'], ['eno1', 'eno2']);
  assert.equal((caps['vlans'] as Record<string, Record<string, unknown>>)['bond0.10']?.['vlanid'], 10);
  const br = (caps['bridges'] as Record<string, Record<string, unknown>>)['ovirtmgmt'];
  assert.deepEqual(br?.['ports'], ['bond0.10']);
  assert.equal(br?.['addr'], '192.0.2.10');
  assert.equal(br?.['gateway'], '192.0.2.1');
  assert.equal(br?.['ipv6gateway'], 'fe80::1');
  assert.equal(br?.['ipv4defaultroute'], true);
  assert.deepEqual(br?.['ipv6addrs'], ['fe80::3eec:efff:fe00:1/64']);
  assert.deepEqual(caps['networks'], {}, 'no management network unless asked for');
  assert.deepEqual(caps['nameservers'], ['192.0.2.53', '2001:db8::53']);
  assert.equal(caps['supportsIPv6'], true);
});

void test('absent subsystems: what vdsm reports (empty iSCSI/FC, SELinux -1, kdump -1, FIPS false, kvm "false")', () => {
  const caps = buildCapabilities({ facts: bareHostFacts(), libvirtCapabilitiesXml: TEST_DRIVER_CAPS_XML, libvirtVersion: 9000000 });
  assert.deepEqual(caps['HBAInventory'], { iSCSI: [], FC: [] });
  assert.equal(caps['ISCSIInitiatorName'], '');
  assert.deepEqual(caps['selinux'], { mode: '-1' });
  assert.equal(caps['kdumpStatus'], -1);
  assert.equal(caps['fipsEnabled'], false);
  assert.equal(caps['kvmEnabled'], 'false');
  assert.equal(caps['autoNumaBalancing'], 2);
  assert.deepEqual(caps['numaNodes'], { 0: { totalMemory: '2000', cpus: [0], hugepages: { 4: { totalPages: '512000' } } } });
  assert.deepEqual(caps['numaNodeDistance'], { 0: [10] });
  assert.deepEqual(caps['operatingSystem'], { name: 'Debian', version: '12.11', release: '', pretty_name: '' });
  assert.equal(caps['uuid'], '3d1219c7-c4c5-404a-aa1f-6d2a48adfda4');
  assert.deepEqual(caps['nameservers'], []);
  assert.equal(caps['packages2'] !== undefined && (caps['packages2'] as Record<string, unknown>)['qemu-kvm'], undefined);
  // The test driver offers no machine types or CPU models: the engine would refuse such a host.
  const v = checkCapabilities(caps);
  assert.ok(v.some((x) => x.startsWith('emulatedMachines')));
  assert.ok(v.some((x) => x.startsWith('cpuFlags')));
  const fixed = buildCapabilities({ facts: bareHostFacts(), libvirtCapabilitiesXml: TEST_DRIVER_CAPS_XML.replace('<features>', '<model>qemu32</model><features>'), libvirtVersion: 9000000, options: { extraEmulatedMachines: ['pc-q35-rhel9.6.0'] } });
  assert.deepEqual(checkCapabilities(fixed), []);
});

void test('the capabilities checker flags what breaks the engine', () => {
  const caps = big();
  const broken = { ...caps, cpuCores: 4.5, cpuSpeed: 2100, HBAInventory: undefined, numaNodes: { 0: { cpus: [0] } }, networks: { x: { iface: 'x', bridged: true } }, domain_versions: ['3'] };
  const v = checkCapabilities(broken);
  for (const key of ['cpuCores', 'cpuSpeed', 'HBAInventory', 'numaNodes.0.totalMemory', 'networks.x.switch', 'domain_versions[0]']) assert.ok(v.some((x) => x.startsWith(key)), key);
});
