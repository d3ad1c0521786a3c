// Realistic libvirt domain XML, shaped like what the engine sends in VM.create (ovirt-vm metadata,
// virtio disks with serials, a CD-ROM, virtio NICs, VNC/SPICE graphics, guest-agent channels).

export interface DomainXmlOptions {
  uuid?: string;
  name?: string;
  memoryMiB?: number;
  vcpus?: number;
  graphics?: 'vnc' | 'spice' | 'both' | 'none';
  extraNic?: boolean;
  acpi?: boolean;
  metadata?: boolean;
}

export const VM_UUID = '7f9a0a46-2f5b-4d2b-9c37-0c3e6f1b2a11';

export function domainXml(o: DomainXmlOptions = {}): string {
  const uuid = o.uuid ?? VM_UUID;
  const graphics = o.graphics ?? 'both';
  const vnc = `<graphics type='vnc' port='5900' autoport='yes' listen='0.0.0.0' keymap='en-us' passwdValidTo='1970-01-01T00:00:01'>
      <listen type='network' address='0.0.0.0' network='vdsm-ovirtmgmt'/>
    </graphics>`;
  const spice = `<graphics type='spice' port='5901' tlsPort='5902' autoport='yes' passwdValidTo='1970-01-01T00:00:01'>
      <listen type='address' address='192.0.2.10'/>
      <channel name='main' mode='secure'/>
    </graphics>`;
  const g = graphics === 'vnc' ? vnc : graphics === 'spice' ? spice : graphics === 'both' ? `${vnc}\n    ${spice}` : '';
  const metadata = o.metadata === false ? '' : `<metadata xmlns:ns1="http://ovirt.org/vm/tune/1.0" xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
    <ns1:qos/>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:clusterVersion>4.7</ovirt-vm:clusterVersion>
      <ovirt-vm:destroy_on_reboot type="bool">False</ovirt-vm:destroy_on_reboot>
      <ovirt-vm:launchPaused>false</ovirt-vm:launchPaused>
      <ovirt-vm:memGuaranteedSize type="int">1024</ovirt-vm:memGuaranteedSize>
      <ovirt-vm:minGuaranteedMemoryMb type="int">1024</ovirt-vm:minGuaranteedMemoryMb>
      <ovirt-vm:resumeBehavior>auto_resume</ovirt-vm:resumeBehavior>
      <ovirt-vm:startTime type="float">1764063000.42</ovirt-vm:startTime>
      <ovirt-vm:device alias="ua-2b1c" mac_address="56:6f:2a:5b:00:01">
        <ovirt-vm:network>ovirtmgmt</ovirt-vm:network>
      </ovirt-vm:device>
      <ovirt-vm:device devtype="disk" name="vda">
        <ovirt-vm:domainID>1fbe2a4c-8f4f-4bd1-9a4e-3b4c5d6e7f80</ovirt-vm:domainID>
        <ovirt-vm:imageID>5e2a7c1d-0b1a-4c3d-8e9f-a0b1c2d3e4f5</ovirt-vm:imageID>
        <ovirt-vm:poolID>00000001-0001-0001-0001-0000000001e8</ovirt-vm:poolID>
        <ovirt-vm:volumeID>9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d</ovirt-vm:volumeID>
      </ovirt-vm:device>
    </ovirt-vm:vm>
  </metadata>`;
  const extraNic = o.extraNic === true ? `<interface type='bridge'>
      <mac address='56:6f:2a:5b:00:02'/>
      <source bridge='br-data'/>
      <target dev='vnet7'/>
      <model type='e1000'/>
      <alias name='ua-3c2d'/>
    </interface>` : '';
  return `<domain type='kvm' xmlns:ovirt-tune="http://ovirt.org/vm/tune/1.0" xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
  <name>${o.name ?? 'web-01'}</name>
  <uuid>${uuid}</uuid>
  ${metadata}
  <maxMemory slots='16' unit='KiB'>16777216</maxMemory>
  <memory unit='MiB'>${o.memoryMiB ?? 4096}</memory>
  <currentMemory unit='KiB'>${(o.memoryMiB ?? 4096) * 1024}</currentMemory>
  <vcpu placement='static' current='${o.vcpus ?? 2}'>16</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-rhel8.6.0'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>${o.acpi === false ? '' : '<acpi/>'}<apic/></features>
  <clock offset='variable' adjustment='3600' basis='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/libexec/qemu-kvm</emulator>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw' error_policy='report'/>
      <source file='/rhev/data-center/mnt/iso/debian.iso' startupPolicy='optional'/>
      <target dev='sdc' bus='sata'/>
      <readonly/>
      <alias name='ua-cdrom'/>
    </disk>
    <disk type='block' device='disk' snapshot='no'>
      <driver name='qemu' type='qcow2' cache='none' error_policy='stop' io='native'/>
      <source dev='/rhev/data-center/mnt/blockSD/1fbe2a4c/images/5e2a7c1d/9b8a7c6d'/>
      <target dev='vda' bus='virtio'/>
      <serial>5e2a7c1d-0b1a-4c3d-8e9f-a0b1c2d3e4f5</serial>
      <boot order='1'/>
      <alias name='ua-5e2a7c1d'/>
    </disk>
    <interface type='bridge'>
      <mac address='56:6f:2a:5b:00:01'/>
      <source bridge='ovirtmgmt'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
      <filterref filter='vdsm-no-mac-spoofing'/>
      <link state='up'/>
      <alias name='ua-2b1c'/>
    </interface>
    ${extraNic}
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channels/${uuid}.ovirt-guest-agent.0'/>
      <target type='virtio' name='ovirt-guest-agent.0'/>
    </channel>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channels/${uuid}.org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    ${g}
    <memballoon model='virtio'>
      <stats period='5'/>
    </memballoon>
  </devices>
</domain>`;
}
