// The storage verbs' parameters as vdsm's own code reads them: the engine sends numbers where
// vdsm-api.yml says strings (domainType 4, domainClass 1, volFormat 5, preallocate 2) and strings where
// it says numbers or booleans (version "5", postZero "false", size "1073741824"), and vdsm converts
// (int(), misc.parseBool, sd.name2type). Anything else is vdsm's error for that parameter.
import { Errors, storageError } from '../errors.js';
import { DOMAIN_CLASS_NAMES, DOMAIN_TYPE_NAMES, VolFormat, VolType, isUuid } from '../contracts/storage-constants.js';

const invalid = (name: string, value: unknown): Error => storageError(Errors.SD_INVALID_PARAMETER, { value: `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}` });

/** misc.validateUUID */
export function uuidParam(name: string, value: unknown): string {
  if (!isUuid(value)) throw invalid(name, value);
  return value;
}

/** int(value) for a number or a numeric string. */
export function intParam(name: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(name, value);
  return n;
}

export function optionalIntParam(name: string, value: unknown, fallback: number): number {
  return value === undefined || value === null || value === '' ? fallback : intParam(name, value);
}

/** misc.validateSize: a non-negative number of bytes, as a number or a string. */
export function sizeParam(name: string, value: unknown): number {
  const n = intParam(name, value);
  if (n < 0) throw invalid(name, value);
  return n;
}

/** misc.parseBool: true, "true", "True" (and 1) are true; everything else false. */
export function boolParam(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  return typeof value === 'string' && value.trim().toLowerCase() === 'true';
}

function byNumberOrName(value: unknown, names: Readonly<Record<number, string>>): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && names[value] !== undefined) return value;
  if (typeof value === 'string') {
    const t = value.trim();
    if (/^\d+$/.test(t) && names[Number(t)] !== undefined) return Number(t);
    const hit = Object.entries(names).find(([, n]) => n.toUpperCase() === t.toUpperCase());
    if (hit) return Number(hit[0]);
  }
  return undefined;
}

/** A storage domain type: 4, "4" or "LOCALFS" (sd.storageType). */
export function domainTypeParam(value: unknown): number {
  const n = byNumberOrName(value, DOMAIN_TYPE_NAMES);
  if (n === undefined) throw storageError(Errors.SD_DOMAIN_TYPE, [String(value)]);
  return n;
}

/** A domain class: 1, "1" or "Data". */
export function domainClassParam(value: unknown): number {
  const n = byNumberOrName(value, DOMAIN_CLASS_NAMES);
  if (n === undefined) throw storageError(Errors.SD_DOMAIN_CLASS, [String(value)]);
  return n;
}

/** volFormat: 5 / "5" / "RAW" or 4 / "COW" (IncorrectFormat, 202, otherwise). */
export function volFormatParam(value: unknown, allowUnknown = false): 'RAW' | 'COW' | 'UNKNOWN' {
  const n = byNumberOrName(value, { [VolFormat.COW]: 'COW', [VolFormat.RAW]: 'RAW', [VolFormat.UNKNOWN]: 'UNKNOWN' });
  if (n === VolFormat.RAW) return 'RAW';
  if (n === VolFormat.COW) return 'COW';
  if (allowUnknown && n === VolFormat.UNKNOWN) return 'UNKNOWN';
  throw storageError(Errors.SD_INCORRECT_FORMAT, [String(value)]);
}

/** preallocate: 1 / "PREALLOCATED" or 2 / "SPARSE" (IncorrectType, 231, otherwise). */
export function preallocParam(value: unknown, allowUnknown = false): 'PREALLOCATED' | 'SPARSE' | 'UNKNOWN' {
  const n = byNumberOrName(value, { [VolType.PREALLOCATED]: 'PREALLOCATED', [VolType.SPARSE]: 'SPARSE', [VolType.UNKNOWN]: 'UNKNOWN' });
  if (n === VolType.PREALLOCATED) return 'PREALLOCATED';
  if (n === VolType.SPARSE) return 'SPARSE';
  if (allowUnknown && n === VolType.UNKNOWN) return 'UNKNOWN';
  throw storageError(Errors.SD_INCORRECT_TYPE, [String(value)]);
}

/** A JSON-ish string parameter (names, descriptions); numbers are accepted as their text. */
export function stringParam(name: string, value: unknown, fallback?: string): string {
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw invalid(name, value);
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw invalid(name, value);
}
