// A file storage domain's dom_md/metadata as vdsm writes it (persistent.py PersistentDict over
// fileSD.FileMetadataRW): KEY=VALUE lines sorted by key, then _SHA_CKSUM=<sha1 of the concatenated
// KEY=VALUE lines>. Pure functions, shared by the worker operations and the main thread.
import { createHash } from 'node:crypto';
import {
  ALIGNMENT_1M, BLOCK_SIZE_512, DEFAULT_LEASE_PARAMS, DOMAIN_CLASS_NAMES, DOMAIN_TYPE_NAMES, DomainRole,
  type DomainStatusName,
} from './storage-constants.js';

export const SHA_CKSUM_TAG = '_SHA_CKSUM';

export type SdMetadata = Record<string, string>;

export class MetadataSealBrokenError extends Error {
  override readonly name = 'MetadataSealBrokenError';
  constructor(readonly declared: string, readonly computed: string) {
    super(`cksum = ${declared}, computed_cksum = ${computed}`);
  }
}

/** vdsm's _preprocessLine: non-ASCII characters become XML character references before hashing. */
function asciiXmlRef(line: string): string {
  let out = '';
  for (const ch of line) {
    const cp = ch.codePointAt(0)!;
    out += cp < 128 ? ch : `&#${cp};`;
  }
  return out;
}

function checksum(md: SdMetadata): string {
  const h = createHash('sha1');
  for (const key of Object.keys(md).sort()) h.update(asciiXmlRef(`${key}=${md[key]!.trim()}`), 'latin1');
  return h.digest('hex');
}

/** The file's bytes: sorted lines, the checksum last. */
export function formatSdMetadata(md: SdMetadata): string {
  const lines = Object.keys(md).sort().map((k) => `${k}=${md[k]!.trim()}`);
  lines.push(`${SHA_CKSUM_TAG}=${checksum(md)}`);
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * Parse the file; throws MetadataSealBrokenError when a declared checksum does not match (vdsm's
 * MetaDataSealIsBroken, 752). Empty text is empty metadata; no checksum line is trusted as is (vdsm).
 */
export function parseSdMetadata(text: string): SdMetadata {
  const md: SdMetadata = {};
  let declared: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === SHA_CKSUM_TAG) declared = value;
    else md[key] = value;
  }
  if (Object.keys(md).length === 0 || declared === undefined) return md;
  const computed = checksum(md);
  if (computed !== declared) throw new MetadataSealBrokenError(declared, computed);
  return md;
}

export interface NewDomainMetadata {
  sdUUID: string;
  name: string;
  domainType: number;
  domainClass: number;
  version: number;
  remotePath: string;
  blockSize?: number;
  alignment?: number;
}

/** The metadata of a new, unattached file domain (fileSD._prepareMetadata). */
export function newDomainMetadata(d: NewDomainMetadata): SdMetadata {
  const md: SdMetadata = {
    VERSION: String(d.version),
    SDUUID: d.sdUUID,
    TYPE: DOMAIN_TYPE_NAMES[d.domainType] ?? 'UNKNOWN',
    CLASS: DOMAIN_CLASS_NAMES[d.domainClass] ?? 'Data',
    DESCRIPTION: d.name,
    ROLE: DomainRole.REGULAR,
    POOL_UUID: '',
    LOCKPOLICY: '',
    LOCKRENEWALINTERVALSEC: String(DEFAULT_LEASE_PARAMS.LOCKRENEWALINTERVALSEC),
    LEASETIMESEC: String(DEFAULT_LEASE_PARAMS.LEASETIMESEC),
    IOOPTIMEOUTSEC: String(DEFAULT_LEASE_PARAMS.IOOPTIMEOUTSEC),
    LEASERETRIES: String(DEFAULT_LEASE_PARAMS.LEASERETRIES),
    REMOTE_PATH: d.remotePath,
  };
  // Version 5 replaced LOGBLKSIZE/PHYBLKSIZE with ALIGNMENT and BLOCK_SIZE.
  if (d.version > 4) {
    md['ALIGNMENT'] = String(d.alignment ?? ALIGNMENT_1M);
    md['BLOCK_SIZE'] = String(d.blockSize ?? BLOCK_SIZE_512);
  }
  return md;
}

/** POOL_UUID: comma-separated pool ids; the blank UUID of old metadata means none. */
export function domainPools(md: SdMetadata): string[] {
  const v = md['POOL_UUID'] ?? '';
  return v === '' ? [] : v.split(',').filter((p) => p !== '' && p !== '00000000-0000-0000-0000-000000000000');
}

/** POOL_DOMAINS of a master domain: "sd:Active,sd2:Attached" (spbackends._domainListDecoder). */
export function decodeDomainMap(s: string | undefined): Record<string, DomainStatusName> {
  const out: Record<string, DomainStatusName> = {};
  if (!s) return out;
  for (const decl of s.split(',')) {
    const [k, v] = decl.split(':');
    if (k === undefined || v === undefined) continue;
    const st = v.replace(/^'|'$/g, '');
    out[k.replace(/^'|'$/g, '')] = (st.charAt(0).toUpperCase() + st.slice(1).toLowerCase()) as DomainStatusName;
  }
  return out;
}

export function encodeDomainMap(m: Readonly<Record<string, string>>): string {
  return Object.entries(m).map(([k, v]) => `${k}:${v}`).join(',');
}
