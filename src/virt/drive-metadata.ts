// The identity of a VM's storage drives in its domain metadata, as vdsm keeps it: one
// <ovirt-vm:device devtype="disk" name="<target dev>"> per drive under <ovirt-vm:vm>, naming poolID,
// domainID, imageID and volumeID. VM.create's XML brings these from the engine, a live snapshot moves
// a device onto its new volume (./live-snapshot.ts), and a disk hot-plugged on a storage volume is
// added here (removed again on its unplug), so that after an agent restart the live domain XML alone
// says which images the VM runs on (./storage-drives.ts storageDrivesOf, src/services/recovered-drives.ts).
// The functions build the fragment virDomainSetMetadata takes (no namespace declaration, no prefix).
import { escapeXml } from '../libvirt/xml-tree.js';
import { metadataFragment, ovirtDeviceRe, ovirtVmElement } from './live-snapshot.js';
import type { StorageDrive } from './storage-drives.js';


/** The <device> element of one storage drive, with the element's prefix (e.g. `ovirt-vm:`). */
export function driveDeviceXml(prefix: string, d: StorageDrive): string {
  const t = (k: string, v: string): string => `<${prefix}${k}>${escapeXml(v)}</${prefix}${k}>`;
  return `<${prefix}device devtype="disk" name="${escapeXml(d.name)}">${t('poolID', d.poolID)}${t('domainID', d.domainID)}${t('imageID', d.imageID)}${t('volumeID', d.volumeID)}</${prefix}device>`;
}

/**
 * The ovirt-vm metadata fragment of `domainXml` with drive `d` recorded: a device of the same name is
 * replaced, else one is added; a domain without ovirt-vm metadata gets an element holding only it.
 */
export function withDriveDevice(domainXml: string, d: StorageDrive): string {
  const element = ovirtVmElement(domainXml);
  if (element === undefined) return `<vm>${driveDeviceXml('', d)}</vm>`;
  const device = driveDeviceXml(element.prefix, d);
  const re = ovirtDeviceRe(element.prefix, d.name);
  let xml: string;
  if (re.test(element.xml)) {
    let first = true;
    xml = element.xml.replace(ovirtDeviceRe(element.prefix, d.name), () => {
      const out = first ? device : '';
      first = false;
      return out;
    });
  } else {
    const close = `</${element.prefix}vm>`;
    const at = element.xml.lastIndexOf(close);
    xml = at < 0 ? element.xml : `${element.xml.slice(0, at)}${device}${element.xml.slice(at)}`;
  }
  return metadataFragment({ xml, prefix: element.prefix });
}

/** The ovirt-vm metadata fragment of `domainXml` without drive `name`; undefined when it has no such device. */
export function withoutDriveDevice(domainXml: string, name: string): string | undefined {
  const element = ovirtVmElement(domainXml);
  if (element === undefined || !ovirtDeviceRe(element.prefix, name).test(element.xml)) return undefined;
  return metadataFragment({ xml: element.xml.replace(ovirtDeviceRe(element.prefix, name), ''), prefix: element.prefix });
}
