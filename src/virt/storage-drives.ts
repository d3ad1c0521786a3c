// VM disks on storage domains, as the engine gives them: each <disk> of the domain XML has an
// <ovirt-vm:device name="vda"> in the metadata with poolID, domainID, imageID and volumeID. Before the
// VM starts, each such image is prepared (Image.prepare) and the disk's <source file> points at the
// volume, as vdsm's Vm._prepareVolumePath / clientIF.prepareVolumePath do. Afterwards the disks' sizes
// (truesize, apparentsize in VM stats) come from the volume files.
import { escapeXml } from '../libvirt/xml-tree.js';
import type { DomainInfo } from './domain-xml.js';

export interface StorageDrive {
  /** Target dev, e.g. vda. */
  name: string;
  poolID: string;
  domainID: string;
  imageID: string;
  volumeID: string;
}

export interface PreparedDrive extends StorageDrive {
  path: string;
}

/** Disks of the domain whose metadata names a storage volume (PDIV). */
export function storageDrivesOf(domain: DomainInfo): StorageDrive[] {
  const targets = new Set(domain.disks.filter((d) => d.device === 'disk' || d.device === 'lun').map((d) => d.target));
  const out: StorageDrive[] = [];
  for (const dev of domain.ovirt?.devices ?? []) {
    const name = dev['name'];
    const devtype = dev['devtype'];
    if (typeof name !== 'string' || !targets.has(name) || (devtype !== undefined && devtype !== 'disk')) continue;
    const { domainID, imageID, volumeID, poolID } = dev;
    if (typeof domainID !== 'string' || typeof imageID !== 'string' || typeof volumeID !== 'string') continue;
    out.push({ name, domainID, imageID, volumeID, poolID: typeof poolID === 'string' ? poolID : '00000000-0000-0000-0000-000000000000' });
  }
  return out;
}


/**
 * Point each listed disk at its prepared volume: <disk type='file'> with <source file='<path>'/>
 * (whatever source it had). libvirt's <disk> elements do not nest, so a block-level rewrite is exact.
 */
export function withDriveSources(xml: string, paths: ReadonlyMap<string, string>): string {
  return xml.replace(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g, (whole, attrs: string, body: string) => {
    const target = /<target\b[^>]*\bdev\s*=\s*(['"])([^'"]+)\1/.exec(body)?.[2];
    const path = target === undefined ? undefined : paths.get(target);
    if (path === undefined) return whole;
    const source = `<source file='${escapeXml(path)}'/>`;
    let newBody = body.replace(/<source\b[^>]*\/>|<source\b[^>]*>[\s\S]*?<\/source>/, source);
    if (newBody === body && !body.includes(source)) newBody = body.replace(/(<target\b)/, `${source}$1`);
    const newAttrs = /\btype\s*=\s*(['"])[^'"]*\1/.test(attrs) ? attrs.replace(/\btype\s*=\s*(['"])[^'"]*\1/, "type='file'") : `${attrs} type='file'`;
    return `<disk${newAttrs}>${newBody}</disk>`;
  });
}
