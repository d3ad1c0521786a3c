// VM.snapshot's pieces that need no libvirt: the engine's snapDrives read and checked, the plan (which
// drives switch to which new volume, whether the guest is frozen around it, libvirt's flags), the
// <domainsnapshot> document handed to virDomainSnapshotCreateXML, and the ovirt-vm metadata of a drive
// moved onto its new top volume. Pure: the caller does the libvirt and storage calls.
import { XMLBuilder } from 'fast-xml-parser';
import { SnapshotFlag } from '../libvirt/constants.js';
import { escapeXml } from '../libvirt/xml-tree.js';
import type { DomainInfo } from './domain-xml.js';
import { storageDrivesOf, type PreparedDrive } from './storage-drives.js';

/** One entry of the engine's snapDrives: the image's new top volume, created over its current one. */
export interface SnapDriveRequest {
  domainID: string;
  imageID: string;
  /** The new top volume (made by Volume.create with srcVolUUID = baseVolumeID). */
  volumeID: string;
  /** The volume the VM runs on now. */
  baseVolumeID: string;
}

/** A request the agent refuses before touching anything; the caller answers snapshotErr (48) with it. */
export class SnapshotRequestError extends Error {}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The engine's snapDrives, checked: each entry names its domain, image, new and base volume by UUID.
 * vdsm also accepts LUN drives (`GUID`/`baseGUID`) and Cinder ones (`UUID`/`baseUUID`): those have no
 * file volume to layer, so they are refused here.
 */
export function parseSnapDrives(raw: unknown): SnapDriveRequest[] {
  if (!Array.isArray(raw)) throw new SnapshotRequestError('snapDrives must be a list');
  if (raw.length === 0) throw new SnapshotRequestError('snapDrives is empty: no disk to snapshot');
  return raw.map((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new SnapshotRequestError(`snapDrives[${i}] must be an object`);
    const e = entry as Record<string, unknown>;
    if (e['baseVolumeID'] === undefined && (e['baseGUID'] !== undefined || e['baseUUID'] !== undefined)) {
      throw new SnapshotRequestError(`snapDrives[${i}]: direct LUN and managed block disks cannot be snapshotted on this host`);
    }
    const out: Record<string, string> = {};
    for (const k of ['domainID', 'imageID', 'volumeID', 'baseVolumeID'] as const) {
      const v = e[k];
      if (typeof v !== 'string' || !UUID_RE.test(v)) throw new SnapshotRequestError(`snapDrives[${i}].${k} must be a UUID (got ${JSON.stringify(v)?.slice(0, 60) ?? 'nothing'})`);
      out[k] = v.toLowerCase();
    }
    if (out['volumeID'] === out['baseVolumeID']) throw new SnapshotRequestError(`snapDrives[${i}]: volumeID and baseVolumeID are the same volume`);
    return out as unknown as SnapDriveRequest;
  });
}

/** A VM disk on a storage volume as it runs now: the metadata's PDIV and the live XML's source. */
export interface RunningDrive extends PreparedDrive {
  /** <disk type=...>: file, block, network. */
  type: string;
}

/** The VM's disks that name a storage volume, with the path libvirt runs each on (from the live domain). */
export function runningDrives(domain: DomainInfo): RunningDrive[] {
  const out: RunningDrive[] = [];
  for (const d of storageDrivesOf(domain)) {
    const disk = domain.disks.find((x) => x.target === d.name);
    if (disk?.path === undefined) continue;
    out.push({ ...d, path: disk.path, type: disk.type });
  }
  return out;
}

/** One drive that switches: its current state and the new volume it goes onto. */
export interface DriveSwitch {
  drive: RunningDrive;
  newVolumeID: string;
}

export interface SnapshotPlan {
  /** Drives that move onto a new volume (a drive already on its new volume is left out, as vdsm skips it). */
  switches: DriveSwitch[];
  /** The guest's file systems are frozen through its agent around the snapshot (not when the engine froze them). */
  freeze: boolean;
  /** virDomainSnapshotCreateXML flags. */
  flags: number;
}

/**
 * Which drives switch and how: every requested drive must be one the VM runs on its base volume (or
 * already on its new one); disk-only external snapshot into the volumes the engine made
 * (REUSE_EXT), kept out of libvirt's snapshot list (NO_METADATA: oVirt keeps its own). As vdsm does,
 * the guest is frozen by a separate call (VM.freeze's) rather than libvirt's QUIESCE flag, unless the
 * engine says it froze the guest itself (`frozen`) or the memory is saved too (libvirt pauses the guest).
 */
export function planSnapshot(requests: SnapDriveRequest[], drives: RunningDrive[], o: { frozen: boolean; memory?: boolean }): SnapshotPlan {
  const switches: DriveSwitch[] = [];
  for (const r of requests) {
    const same = (d: RunningDrive): boolean => d.domainID.toLowerCase() === r.domainID && d.imageID.toLowerCase() === r.imageID;
    if (drives.some((d) => same(d) && d.volumeID.toLowerCase() === r.volumeID)) continue;
    const drive = drives.find((d) => same(d) && d.volumeID.toLowerCase() === r.baseVolumeID);
    if (drive === undefined) throw new SnapshotRequestError(`the VM does not run on volume ${r.baseVolumeID} of image ${r.imageID} in domain ${r.domainID}`);
    if (drive.type !== 'file') throw new SnapshotRequestError(`disk ${drive.name} is a ${drive.type} disk: only file volumes are snapshotted on this host`);
    if (switches.some((s) => s.drive.name === drive.name)) throw new SnapshotRequestError(`disk ${drive.name} is named twice in snapDrives`);
    switches.push({ drive, newVolumeID: r.volumeID });
  }
  // With the memory: libvirt pauses the guest while it writes the memory state, so there is nothing to
  // freeze, and the snapshot is no longer disk-only.
  const memory = o.memory === true;
  return {
    switches,
    freeze: !o.frozen && !memory,
    flags: (memory ? 0 : SnapshotFlag.DISK_ONLY) | SnapshotFlag.REUSE_EXT | SnapshotFlag.NO_METADATA,
  };
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: true, processEntities: true });

/**
 * <domainsnapshot> with one external <disk> per switching drive, its new top file as the source (a qcow2
 * layer whose backing file is the current top). The VM's other disks are listed with snapshot="no": a
 * disk the document leaves out would get libvirt's default for a disk-only snapshot, a new external
 * file of libvirt's naming beside the disk's, which no engine asked for. With `memoryPath`, the guest's
 * memory state goes to that file (an external memory snapshot, in libvirt's save-image format).
 */
export function snapshotXml(disks: readonly { name: string; path: string }[], others: readonly string[] = [], memoryPath?: string): string {
  const doc = {
    domainsnapshot: {
      ...(memoryPath !== undefined ? { memory: { '@_snapshot': 'external', '@_file': memoryPath } } : {}),
      disks: {
        disk: [
          ...disks.map((d) => ({ '@_name': d.name, '@_snapshot': 'external', '@_type': 'file', driver: { '@_type': 'qcow2' }, source: { '@_file': d.path } })),
          ...others.map((name) => ({ '@_name': name, '@_snapshot': 'no' })),
        ],
      },
    },
  };
  return builder.build(doc) as string;
}


const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The `<device name="…">` elements (with the metadata's `prefix`, e.g. `ovirt-vm:`) of drive `name` in an
 * <ovirt-vm:vm> element, self-closing or not; global, so `replace` sees every one.
 */
export function ovirtDeviceRe(prefix: string, name: string): RegExp {
  const p = escapeRe(prefix);
  return new RegExp(`<${p}device\\b[^>]*\\bname\\s*=\\s*(["'])${escapeRe(escapeXml(name))}\\1[^>]*?(?:\\/>|>[\\s\\S]*?<\\/${p}device>)`, 'g');
}

/** The <ovirt-vm:vm> element of a domain XML (with its namespace declaration), undefined without one. */
export function ovirtVmElement(domainXml: string): { xml: string; prefix: string } | undefined {
  const m = /<(?:([\w.-]+):)?vm\b[^>]*\bxmlns(?::[\w.-]+)?\s*=\s*(["'])http:\/\/ovirt\.org\/vm\/1\.0\2[^>]*>[\s\S]*?<\/(?:\1:)?vm>/.exec(domainXml);
  if (m === null) return undefined;
  return { xml: m[0], prefix: m[1] !== undefined ? `${m[1]}:` : '' };
}

/**
 * The <ovirt-vm:vm> metadata element with drive `name` moved onto `volumeID` at `path`: its own
 * <volumeID> replaced and, when it lists a <volumeChain>, a node for the new volume added (file
 * domains keep their leases beside each volume, as vdsm records them). Undefined when the element
 * has no such device.
 */
export function withDriveVolume(element: { xml: string; prefix: string }, name: string, sw: { domainID: string; imageID: string; volumeID: string; path: string }): string | undefined {
  const p = escapeRe(element.prefix);
  const device = ovirtDeviceRe(element.prefix, name).exec(element.xml)?.[0];
  if (device === undefined) return undefined;
  const chainRe = new RegExp(`<${p}volumeChain\\b[^>]*>[\\s\\S]*?<\\/${p}volumeChain>|<${p}volumeChain\\s*\\/>`);
  const chain = chainRe.exec(device)?.[0];
  const HOLE = '\u0000chain\u0000';
  let updated = chain !== undefined ? device.replace(chain, HOLE) : device;
  const volRe = new RegExp(`(<${p}volumeID\\b[^>]*>)[^<]*(<\\/${p}volumeID>)`);
  if (!volRe.test(updated)) return undefined;
  updated = updated.replace(volRe, `$1${escapeXml(sw.volumeID)}$2`);
  if (chain !== undefined) {
    const t = (k: string, v: string): string => `<${element.prefix}${k}>${escapeXml(v)}</${element.prefix}${k}>`;
    const node = `<${element.prefix}volumeChainNode>${t('domainID', sw.domainID)}${t('imageID', sw.imageID)}${t('leaseOffset', '0')}${t('leasePath', `${sw.path}.lease`)}${t('path', sw.path)}${t('volumeID', sw.volumeID)}</${element.prefix}volumeChainNode>`;
    const grown = chain.endsWith('/>') ? `<${element.prefix}volumeChain>${node}</${element.prefix}volumeChain>` : chain.replace(new RegExp(`<\\/${p}volumeChain>$`), `${node}</${element.prefix}volumeChain>`);
    updated = updated.replace(HOLE, () => grown);
  }
  return element.xml.replace(device, () => updated);
}

/**
 * The <ovirt-vm:vm> element as virDomainSetMetadata takes it: no namespace declaration and no prefixes
 * (libvirt puts the element and its children into the namespace under the key it is given, and refuses
 * a fragment that declares that namespace itself).
 */
export function metadataFragment(element: { xml: string; prefix: string }): string {
  let out = element.xml.replace(/^(<[^>]*?)\s+xmlns(?::[\w.-]+)?\s*=\s*(["'])http:\/\/ovirt\.org\/vm\/1\.0\2/, '$1');
  if (element.prefix !== '') {
    const p = element.prefix.replace(/[.]/g, '\\.');
    out = out.replace(new RegExp(`<(\\/?)${p}`, 'g'), '<$1');
  }
  return out;
}
