// A file volume's <volUUID>.meta as vdsm writes it (volumemetadata.py): sorted KEY=VALUE lines ending
// with EOF, at most 512 bytes. Domain version 5 stores CAP (bytes) and SEQ; older versions SIZE (in
// 512-byte blocks) and MTIME=0. Pure functions for the worker operations and the main thread.
import { DESCRIPTION_SIZE, MAX_GENERATION, VOLUME_METADATA_SIZE } from './storage-constants.js';

export interface VolumeMetadata {
  domain: string;
  image: string;
  /** Parent volume UUID or the blank UUID. */
  parent: string;
  /** Virtual size in bytes. */
  capacity: number;
  /** RAW | COW */
  format: string;
  /** PREALLOCATED | SPARSE */
  type: string;
  /** LEAF | INTERNAL | SHARED */
  voltype: string;
  disktype: string;
  description: string;
  /** LEGAL | ILLEGAL | FAKE */
  legality: string;
  ctime: number;
  generation: number;
  sequence: number;
}

export class VolumeMetadataError extends Error {
  override readonly name = 'VolumeMetadataError';
}

/** vdsm truncates, never refuses, a long description (old engines send them). */
export function clampDescription(desc: string): string {
  const bytes = Buffer.from(desc, 'utf8');
  return bytes.length <= DESCRIPTION_SIZE ? desc : bytes.subarray(0, DESCRIPTION_SIZE).toString('utf8').replace(/\uFFFD+$/, '');
}

export function nextGeneration(gen: number): number {
  return (gen + 1) % (MAX_GENERATION + 1);
}

/** The .meta file bytes for a domain of `domainVersion`; throws when it would not fit one block. */
export function formatVolumeMetadata(md: VolumeMetadata, domainVersion: number): string {
  const info: Record<string, string> = {
    CTIME: String(md.ctime),
    DESCRIPTION: md.description,
    DISKTYPE: md.disktype,
    DOMAIN: md.domain,
    FORMAT: md.format,
    GEN: String(md.generation),
    IMAGE: md.image,
    LEGALITY: md.legality,
    PUUID: md.parent,
    TYPE: md.type,
    VOLTYPE: md.voltype,
  };
  if (domainVersion < 5) {
    info['MTIME'] = '0';
    info['SIZE'] = String(Math.floor(md.capacity / 512));
  } else {
    info['CAP'] = String(md.capacity);
    info['SEQ'] = String(md.sequence);
  }
  const text = Object.keys(info).sort().map((k) => `${k}=${info[k]}\n`).join('') + 'EOF\n';
  if (Buffer.byteLength(text, 'utf8') > VOLUME_METADATA_SIZE) {
    throw new VolumeMetadataError(`Metadata is too big. Cannot change Metadata: ${Buffer.byteLength(text, 'utf8')} bytes`);
  }
  return text;
}

const REQUIRED: readonly (keyof VolumeMetadata)[] = [
  'domain', 'image', 'parent', 'capacity', 'format', 'type', 'voltype', 'disktype', 'description', 'legality', 'ctime', 'generation', 'sequence',
];

/** Parse a .meta file; errors name what is missing or malformed (vdsm's volumemetadata.parse). */
export function parseVolumeMetadata(text: string): { md: VolumeMetadata | undefined; errors: string[] } {
  const kv: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('EOF')) break;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    kv[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  if ('NONE' in kv) return { md: undefined, errors: ['Metadata was cleared (NONE)'] };
  const errors: string[] = [];
  const intOf = (key: string, fallback?: number): number => {
    const v = kv[key];
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      errors.push(`Required key '${key}' is missing.`);
      return NaN;
    }
    const n = Number(v);
    if (!Number.isInteger(n)) errors.push(`Invalid '${key}' value: ${v}`);
    return n;
  };
  const str = (key: string): string => {
    const v = kv[key];
    if (v === undefined) errors.push(`Required key '${key}' is missing.`);
    return v ?? '';
  };
  // Old (pre-v5) metadata has SIZE in 512-byte blocks instead of CAP in bytes.
  const capacity = kv['CAP'] !== undefined ? intOf('CAP') : kv['SIZE'] !== undefined ? intOf('SIZE') * 512 : intOf('CAP');
  const md: VolumeMetadata = {
    domain: str('DOMAIN'),
    image: str('IMAGE'),
    parent: str('PUUID'),
    capacity,
    format: str('FORMAT'),
    type: str('TYPE'),
    voltype: str('VOLTYPE'),
    disktype: str('DISKTYPE'),
    description: kv['DESCRIPTION'] ?? '',
    legality: str('LEGALITY'),
    ctime: intOf('CTIME'),
    generation: intOf('GEN', 0),
    sequence: intOf('SEQ', 0),
  };
  for (const k of REQUIRED) if (md[k] === undefined) errors.push(`Required key '${k}' is missing.`);
  return { md: errors.length === 0 ? md : undefined, errors };
}
