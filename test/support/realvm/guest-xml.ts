// The domain XML of the real-VM tier's tiny guest, shaped like what an engine sends in VM.create:
// a TCG domain booting the Debian kernel and the busybox+qemu-ga initramfs from scripts/realvm/setup.sh.

/** A virtio-serial channel; with no path libvirt picks the socket under the daemon's config dir. */
export interface GuestChannel {
  readonly name: string;
  readonly path?: string;
}

export interface GuestDisk {
  readonly path: string;
  readonly format?: 'qcow2' | 'raw';
  /** Guest device name (default vda). */
  readonly target?: string;
  /** The disk's serial, as the engine sets it (the guest agents map it to the guest's device). */
  readonly serial?: string;
}

export interface TinyGuestOptions {
  readonly uuid: string;
  readonly name: string;
  /** Kernel image and initramfs, readable by the daemon user (ensureRealVmAssets gives both). */
  readonly kernel: string;
  readonly initrd: string;
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  /** Guest agent channels (default: org.qemu.guest_agent.0 and ovirt-guest-agent.0). */
  readonly channels?: readonly (string | GuestChannel)[];
  /** A virtio disk, e.g. a small qcow2 from createGuestDisk(); none when omitted. */
  readonly disk?: GuestDisk;
  /** Serial console written to this file (the guest's /init logs there); a pty when omitted. */
  readonly consoleLog?: string;
  /** A user-mode virtio NIC (default true): no bridge or tap, so it works unprivileged. */
  readonly nic?: boolean;
  /** Guest balloon stats period in seconds (default 2) so bulk stats carry balloon.usable etc. */
  readonly balloonStatsPeriod?: number;
  /** VNC on 127.0.0.1 with autoport (default true), so the domain has display info. */
  readonly graphics?: boolean;
  /** Machine type (default 'pc'; 'q35' also boots). */
  readonly machine?: string;
  /** Extra kernel command line after the defaults. */
  readonly extraCmdline?: string;
  /** The engine's `<metadata>` block with ovirt-vm:vm (default true); VM.create reads it. */
  readonly ovirtMetadata?: boolean;
  /** ovirt-vm:clusterVersion in that block (default '4.7'). */
  readonly clusterVersion?: string;
}

export const DEFAULT_CHANNELS: readonly string[] = ['org.qemu.guest_agent.0', 'ovirt-guest-agent.0'];

// Kernel messages on the serial console (the console log), quiet so TCG spends no time printing.
const BASE_CMDLINE = 'console=ttyS0 quiet';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Escape for XML text and double-quoted attributes. */
function esc(value: string | number): string {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function channelXml(channel: string | GuestChannel): string {
  const c = typeof channel === 'string' ? { name: channel } : channel;
  const source = c.path === undefined ? '<source mode="bind"/>' : `<source mode="bind" path="${esc(c.path)}"/>`;
  return `    <channel type="unix">\n      ${source}\n      <target type="virtio" name="${esc(c.name)}"/>\n    </channel>`;
}

// What an engine puts in <metadata> for every VM it starts (ovirt-vm namespace, as vdsm reads it).
function ovirtMetadataXml(memoryMiB: number, clusterVersion: string): string {
  return `  <metadata xmlns:ovirt-tune="http://ovirt.org/vm/tune/1.0" xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
    <ovirt-tune:qos/>
    <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ovirt-vm:clusterVersion>${esc(clusterVersion)}</ovirt-vm:clusterVersion>
      <ovirt-vm:minGuaranteedMemoryMb type="int">${esc(memoryMiB)}</ovirt-vm:minGuaranteedMemoryMb>
      <ovirt-vm:launchPaused>false</ovirt-vm:launchPaused>
      <ovirt-vm:resumeBehavior>auto_resume</ovirt-vm:resumeBehavior>
    </ovirt-vm:vm>
  </metadata>
`;
}

/** Build the tiny guest's domain XML (type qemu: TCG, no /dev/kvm needed). */
export function tinyGuestXml(options: TinyGuestOptions): string {
  if (!UUID_RE.test(options.uuid)) throw new TypeError(`tinyGuestXml: not a UUID: ${options.uuid}`);
  if (options.name.length === 0) throw new TypeError('tinyGuestXml: empty name');
  const memoryMiB = options.memoryMiB ?? 128;
  const vcpus = options.vcpus ?? 1;
  const period = options.balloonStatsPeriod ?? 2;
  const cmdline = options.extraCmdline ? `${BASE_CMDLINE} ${options.extraCmdline}` : BASE_CMDLINE;
  const devices: string[] = [];
  if (options.disk) {
    const d = options.disk;
    devices.push(
      `    <disk type="file" device="disk">\n` +
        `      <driver name="qemu" type="${esc(d.format ?? 'qcow2')}" cache="none"/>\n` +
        `      <source file="${esc(d.path)}"/>\n` +
        `      <target dev="${esc(d.target ?? 'vda')}" bus="virtio"/>\n` +
        (d.serial !== undefined ? `      <serial>${esc(d.serial)}</serial>\n` : '') +
        `    </disk>`,
    );
  }
  if (options.nic ?? true) {
    devices.push(`    <interface type="user">\n      <model type="virtio"/>\n    </interface>`);
  }
  if (options.consoleLog === undefined) {
    devices.push(`    <serial type="pty">\n      <target port="0"/>\n    </serial>`);
  } else {
    const src = `<source path="${esc(options.consoleLog)}" append="on"/>`;
    devices.push(`    <serial type="file">\n      ${src}\n      <target port="0"/>\n    </serial>`);
  }
  for (const channel of options.channels ?? DEFAULT_CHANNELS) devices.push(channelXml(channel));
  devices.push(`    <memballoon model="virtio">\n      <stats period="${esc(period)}"/>\n    </memballoon>`);
  if (options.graphics ?? true) {
    devices.push(
      `    <graphics type="vnc" port="-1" autoport="yes" listen="127.0.0.1">\n` +
        `      <listen type="address" address="127.0.0.1"/>\n` +
        `    </graphics>`,
    );
  }
  return `<domain type="qemu">
  <name>${esc(options.name)}</name>
  <uuid>${esc(options.uuid)}</uuid>
${options.ovirtMetadata ?? true ? ovirtMetadataXml(memoryMiB, options.clusterVersion ?? '4.7') : ''}  <memory unit="MiB">${esc(memoryMiB)}</memory>
  <currentMemory unit="MiB">${esc(memoryMiB)}</currentMemory>
  <vcpu placement="static">${esc(vcpus)}</vcpu>
  <os>
    <type arch="x86_64" machine="${esc(options.machine ?? 'pc')}">hvm</type>
    <kernel>${esc(options.kernel)}</kernel>
    <initrd>${esc(options.initrd)}</initrd>
    <cmdline>${esc(cmdline)}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset="utc"/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${devices.join('\n')}
  </devices>
</domain>
`;
}
