// A VM's SLA policy as vdsm keeps it in the domain metadata (namespace http://ovirt.org/vm/tune/1.0,
// element `qos`): the vCPU limit (percent, which MOM turns into a vCPU quota) and the disks' I/O policy
// (per disk: `maximum` and `guaranteed` limits), written by VM.updateVmPolicy and read back by
// Host.getAllVmIoTunePolicies (`policy`) and MOM. Pure: the XML is built with an XML builder, so values
// the engine sends stay inside their elements.
import { XMLBuilder } from 'fast-xml-parser';
import { attr, child, children, parseXmlTree, text, type XNode } from '../libvirt/xml-tree.js';
import { IOTUNE_KEYS } from './disk-iotune.js';

export const VM_TUNE_URI = 'http://ovirt.org/vm/tune/1.0';
export const VM_TUNE_PREFIX = 'ovirt-tune';

/** One disk's I/O policy, in vdsm's shape. */
export interface IoTunePolicy {
  name: string;
  path: string;
  maximum: Record<string, number>;
  guaranteed: Record<string, number>;
}

export interface VmQos {
  vcpuLimit?: string;
  ioTune: IoTunePolicy[];
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: true, processEntities: true });

/** Children in the ovirt-tune namespace as libvirt writes them (prefixed), or unprefixed. */
function kids(node: XNode | undefined, name: string): XNode[] {
  const prefixed = children(node, `${VM_TUNE_PREFIX}:${name}`);
  return prefixed.length > 0 ? prefixed : children(node, name);
}

function kid(node: XNode | undefined, name: string): XNode | undefined {
  return kids(node, name)[0];
}

function limits(node: XNode | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of IOTUNE_KEYS) {
    const t = text(kid(node, key));
    if (t === undefined || t === '') continue;
    const n = Number(t);
    if (Number.isSafeInteger(n) && n >= 0) out[key] = n;
  }
  return out;
}

/** The `qos` element of a metadata fragment (what virDomainGetMetadata returns) or of a domain XML. */
export function parseQos(xml: string | null | undefined): VmQos {
  if (xml === null || xml === undefined || xml.trim() === '') return { ioTune: [] };
  const doc = parseXmlTree(xml);
  const metadata = child(child(doc, 'domain'), 'metadata');
  const qos = (metadata !== undefined ? child(metadata, `${VM_TUNE_PREFIX}:qos`) : undefined) ?? child(doc, `${VM_TUNE_PREFIX}:qos`) ?? child(doc, 'qos');
  if (qos === undefined) return { ioTune: [] };
  const vcpuLimit = text(kid(qos, 'vcpuLimit'));
  const ioTune = kids(kid(qos, 'ioTune'), 'device').map((d) => ({
    name: attr(d, 'name') ?? '',
    path: attr(d, 'path') ?? '',
    maximum: limits(kid(d, 'maximum')),
    guaranteed: limits(kid(d, 'guaranteed')),
  }));
  return { ...(vcpuLimit !== undefined && vcpuLimit !== '' ? { vcpuLimit } : {}), ioTune };
}

/**
 * The `qos` element for virDomainSetMetadata (ELEMENT, key ovirt-tune, uri VM_TUNE_URI). Written without
 * a namespace: libvirt puts the element in its own (a declaration of ours makes it fail with "failed to
 * create a new XML namespace") and its children, so the live XML shows vdsm's form, every element
 * `ovirt-tune:`-prefixed.
 */
export function qosXml(q: VmQos): string {
  const limitsOf = (l: Record<string, number>): Record<string, string> => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, String(v)]));
  const body: Record<string, unknown> = {};
  if (q.vcpuLimit !== undefined) body['vcpuLimit'] = q.vcpuLimit;
  if (q.ioTune.length > 0) {
    body['ioTune'] = { device: q.ioTune.map((d) => ({ '@_name': d.name, '@_path': d.path, maximum: limitsOf(d.maximum), guaranteed: limitsOf(d.guaranteed) })) };
  }
  return builder.build({ qos: body }) as string;
}

/** vdsm's io_tune_update_list: entries for a disk already listed (by name) replace it, others are added. */
export function mergeIoTune(current: readonly IoTunePolicy[], updates: readonly IoTunePolicy[]): IoTunePolicy[] {
  const out = current.filter((c) => !updates.some((u) => u.name === c.name));
  return [...out, ...updates];
}
