// Canned host facts (what host.capabilitiesFacts returns) and libvirt XML for getCapabilities tests.
import type { CapabilitiesRawFacts, NetDeviceFacts } from '../../src/contracts/host-facts.js';

const dev = (over: Partial<NetDeviceFacts>): NetDeviceFacts => ({
  address: null, mtu: '1500', speed: null, operstate: 'up', flags: '0x1003', type: '1', virtual: false, bridge: null, bond: null,
  master: null, vlan: null, ipv6autoconf: '0', devtype: null, ...over,
});

/** A two-socket, two-node host with a bond, a VLAN on it, a bridge and two NICs. */
export function bigHostFacts(): CapabilitiesRawFacts {
  const cpus: CapabilitiesRawFacts['cpus'] = {};
  for (let i = 0; i < 8; i++) {
    const socket = i < 4 ? 0 : 1;
    const core = Math.floor((i % 4) / 2);
    const first = socket * 4 + core * 2;
    cpus[String(i)] = { physicalPackageId: String(socket), coreId: String(core), dieId: '0', threadSiblingsList: `${first}-${first + 1}` };
  }
  return {
    cpuinfo: 'processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\ncpu MHz\t\t: 2100.000\nflags\t\t: fpu vme vmx nx lm sse2\n\n',
    cpuOnline: '0-7',
    cpus,
    nodes: {
      0: { cpulist: '0-3', meminfo: 'Node 0 MemTotal:  16252928 kB\nNode 0 MemFree: 8000000 kB\n', distance: '10 21', hugepages: { 'hugepages-2048kB': '16', 'hugepages-1048576kB': '0' } },
      1: { cpulist: '4-7', meminfo: 'Node 1 MemTotal:  16777216 kB\nNode 1 MemFree: 9000000 kB\n', distance: '21 10', hugepages: { 'hugepages-2048kB': '0', 'hugepages-1048576kB': '0' } },
    },
    meminfo: 'MemTotal:       33030144 kB\nMemFree:        17000000 kB\n',
    procStat: 'cpu 1 2 3 4\nbtime 1700000000\n',
    osRelease: 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.6"\nPRETTY_NAME="Red Hat Enterprise Linux 9.6 (Plow)"\n',
    releaseFiles: { rhevh: false, ovirtNode: false, fedora: false, redhat: true, debian: false, powerkvm: false },
    debianVersion: null,
    redhatRelease: 'Red Hat Enterprise Linux release 9.6 (Plow)',
    kernelRelease: '5.14.0-570.el9.x86_64',
    kernelVersion: '#1 SMP PREEMPT_DYNAMIC',
    cmdline: 'BOOT_IMAGE=(hd0,msdos1)/vmlinuz root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M\n',
    net: {
      lo: dev({ type: '772', virtual: true, flags: '0x9', operstate: 'unknown' }),
      eno1: dev({ address: '3c:ec:ef:00:00:01', speed: '10000', master: 'bond0' }),
      eno2: dev({ address: '3c:ec:ef:00:00:02', speed: '10000', master: 'bond0' }),
      eno3: dev({ address: '3c:ec:ef:00:00:03', speed: '-1', operstate: 'down' }),
      bond0: dev({ address: '3c:ec:ef:00:00:01', virtual: true, bond: { slaves: 'eno1 eno2', mode: '802.3ad 4', miimon: '100', activeSlave: null, adAggregatorId: '1' } }),
      'bond0.10': dev({ address: '3c:ec:ef:00:00:01', virtual: true, vlan: 'bond0.10  VID: 10\t REORDER_HDR: 1 dev->priv_flags: 1021\nDevice: bond0\n' }),
      ovirtmgmt: dev({ address: '3c:ec:ef:00:00:01', virtual: true, bridge: { ports: ['bond0.10'], stpState: '0' } }),
      vnet0: dev({ address: 'fe:6f:2a:5b:00:01', virtual: true, devtype: null, master: 'ovirtmgmt' }),
    },
    ifaddrs: {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
      ovirtmgmt: [
        { address: '192.0.2.10', netmask: '255.255.255.0', family: 'IPv4', mac: '3c:ec:ef:00:00:01', internal: false, cidr: '192.0.2.10/24' },
        { address: 'fe80::3eec:efff:fe00:1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '3c:ec:ef:00:00:01', internal: false, cidr: 'fe80::3eec:efff:fe00:1/64', scopeid: 5 },
      ],
    },
    routes: 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\novirtmgmt\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\novirtmgmt\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n',
    ipv6Routes: '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ovirtmgmt\n',
    supportsIPv6: true,
    resolvConf: '# generated\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n',
    iscsiInitiatorName: 'InitiatorName=iqn.1994-05.com.redhat:6b4d3a2f1e0\n',
    fcHosts: { host1: { portName: '0x500143802426baf4', nodeName: '0x500143802426baf5', modelName: 'QLE2692', modelDesc: 'QLogic 16Gb FC' } },
    rng: { random: true, urandom: true, hwrng: false },
    selinuxEnforce: '1',
    fipsEnabled: '0',
    kvm: true,
    kexecCrashLoaded: '1',
    kdumpConf: 'path /var/crash\nfence_kdump_nodes engine.example.com\n',
    numaBalancing: '1',
    nested: { kvmIntel: 'N', kvmAmd: null },
    hugepageDirs: ['hugepages-1048576kB', 'hugepages-2048kB'],
    cpuAffinity: '0-7',
    kernelFeatures: { pti: '0', ibpb: '1', ibrs: null },
    machineId: '3d1219c7c4c5404aaa1f6d2a48adfda4',
    productUuid: '4C4C4544-0042-3610-8048-B4C04F4E4D32',
    dmiPresent: true,
    hooks: { before_vm_start: { '50_hostedengine': { checksum: '' } } },
  };
}

/** A small VM without NUMA, DMI, iSCSI, FC, SELinux or kdump. */
export function bareHostFacts(): CapabilitiesRawFacts {
  return {
    ...bigHostFacts(),
    cpuinfo: 'processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.122\nflags\t\t: fpu svm nx\n',
    cpuOnline: '0',
    cpus: { 0: { physicalPackageId: '0', coreId: '0', dieId: '0', threadSiblingsList: '0' } },
    nodes: {},
    meminfo: 'MemTotal:        2048000 kB\n',
    osRelease: null,
    releaseFiles: { rhevh: false, ovirtNode: false, fedora: false, redhat: false, debian: true, powerkvm: false },
    debianVersion: '12.11',
    redhatRelease: null,
    net: {
      lo: dev({ type: '772', virtual: true, flags: '0x9', operstate: 'unknown' }),
      eth0: dev({ address: '02:fc:00:00:00:01', speed: '-1', mtu: '1400' }),
    },
    ifaddrs: { eth0: [{ address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '02:fc:00:00:00:01', internal: false, cidr: '192.0.2.2/24' }] },
    routes: 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n',
    ipv6Routes: null,
    supportsIPv6: false,
    resolvConf: null,
    iscsiInitiatorName: null,
    fcHosts: {},
    rng: { random: true, urandom: true, hwrng: false },
    selinuxEnforce: null,
    fipsEnabled: null,
    kvm: false,
    kexecCrashLoaded: null,
    kdumpConf: null,
    numaBalancing: null,
    nested: { kvmIntel: null, kvmAmd: null },
    hugepageDirs: [],
    cpuAffinity: null,
    kernelFeatures: { pti: null, ibpb: null, ibrs: null },
    machineId: '3d1219c7c4c5404aaa1f6d2a48adfda4',
    productUuid: null,
    dmiPresent: false,
    hooks: {},
  };
}

export const QEMU_CAPS_XML = `<capabilities>
  <host>
    <uuid>4c4c4544-0042-3610-8048-b4c04f4e4d32</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Cascadelake-Server-noTSX</model>
      <vendor>Intel</vendor>
      <microcode version='83898371'/>
      <counter name='tsc' frequency='2095077000' scaling='yes'/>
      <topology sockets='1' dies='1' cores='2' threads='2'/>
      <feature name='ds'/>
      <feature name='md-clear'/>
      <pages unit='KiB' size='4'/>
      <pages unit='KiB' size='2048'/>
    </cpu>
    <topology>
      <cells num='2'>
        <cell id='0'><memory unit='KiB'>16252928</memory></cell>
        <cell id='1'><memory unit='KiB'>16777216</memory></cell>
      </cells>
    </topology>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'>
      <wordsize>32</wordsize>
      <emulator>/usr/libexec/qemu-kvm</emulator>
      <machine maxCpus='240'>pc-i440fx-rhel7.6.0</machine>
      <domain type='qemu'/>
    </arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/libexec/qemu-kvm</emulator>
      <machine maxCpus='240'>pc-i440fx-rhel7.6.0</machine>
      <machine canonical='pc-i440fx-rhel7.6.0' maxCpus='240'>pc</machine>
      <machine maxCpus='710'>pc-q35-rhel9.6.0</machine>
      <machine canonical='pc-q35-rhel9.6.0' maxCpus='710'>q35</machine>
      <machine maxCpus='710'>pc-q35-rhel8.6.0</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
    <features><acpi default='on' toggle='yes'/><cpuselection/></features>
  </guest>
</capabilities>`;

export const DOMCAPS_XML = `<domainCapabilities>
  <path>/usr/libexec/qemu-kvm</path>
  <domain>kvm</domain>
  <cpu>
    <mode name='host-passthrough' supported='yes'/>
    <mode name='host-model' supported='yes'>
      <model fallback='forbid'>Cascadelake-Server</model>
      <feature policy='require' name='ss'/>
      <feature policy='require' name='vmx'/>
      <feature policy='disable' name='hle'/>
    </mode>
    <mode name='custom' supported='yes'>
      <model usable='yes' vendor='Intel'>Nehalem</model>
      <model usable='yes' vendor='Intel'>Skylake-Server-IBRS</model>
      <model usable='no' vendor='AMD'>EPYC</model>
    </mode>
  </cpu>
</domainCapabilities>`;

/** What libvirt's test driver reports: an i686 host without models or machines of interest. */
export const TEST_DRIVER_CAPS_XML = `<capabilities>
  <host><cpu><arch>i686</arch><features><pae/><nonpae/></features></cpu></host>
  <guest><os_type>hvm</os_type><arch name='i686'><wordsize>32</wordsize><emulator>/usr/bin/test-hv</emulator><domain type='test'/></arch></guest>
</capabilities>`;
