// Loads the effective configuration at start-up: schema defaults, then a profile, then the main
// vdsm.conf, then drop-ins (all directories sorted together by file name), then --set overrides.
// Every problem is collected and thrown as one INVALID_CONFIGURATION error; the result is frozen.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_SECTION, parseIni, type IniDocument } from './ini-parser.js';
import { interpolate } from './interpolation.js';
import { defaultText, formatValue, parseValue, type KeySpec } from './key-types.js';
import { keySpec, schema, schemaEntries, VDSM_ONLY_SECTIONS, type PartialConfig, type Schema, type SectionName, type VdsmConfig } from './schema.js';
import { parseSetOption } from './set-option.js';
import { ConfigurationError, type Violation } from './violations.js';

/** vdsm's main configuration file. */
export const DEFAULT_CONFIG_FILE = '/etc/vdsm/vdsm.conf';

/** vdsm's drop-in directories: vendor, runtime, admin. Their files are merged and sorted by name. */
export const defaultDropinDirs: readonly string[] = Object.freeze(['/usr/lib/vdsm/vdsm.conf.d', '/run/vdsm/vdsm.conf.d', '/etc/vdsm/vdsm.conf.d']);

/** With `--config FILE` the only drop-in directory is `FILE.d`. */
export function dropinDirsFor(configFile: string): string[] {
  return [`${configFile}.d`];
}

/** Which layer a value came from. */
export type ValueSource =
  | { readonly kind: 'default' }
  | { readonly kind: 'profile' }
  | { readonly kind: 'file'; readonly file: string; readonly line: number }
  | { readonly kind: 'set'; readonly option: string };

export interface ConfigSource {
  /** The text before interpolation (e.g. '%(repository)s/hsm-tasks'). */
  readonly raw: string;
  readonly from: ValueSource;
}

export type ConfigSources = { readonly [S in SectionName]: { readonly [K in keyof Schema[S]]: ConfigSource } };

export interface LoadConfigOptions {
  /** Main file. Default DEFAULT_CONFIG_FILE, which may be absent (as in vdsm). */
  configFile?: string;
  /** Whether a missing main file is an error. Default: true when configFile is given. */
  requireConfigFile?: boolean;
  /** Drop-in directories; default defaultDropinDirs, or `configFile.d` when configFile is given. */
  dropinDirs?: readonly string[];
  /** Typed values applied over the schema defaults and under every file; taken literally (no interpolation). */
  profile?: PartialConfig;
  /** 'section.key=value' items, applied last, in order. */
  overrides?: readonly string[];
}

export interface LoadedConfig {
  readonly config: VdsmConfig;
  /** Unknown sections and keys (ignored); the caller logs them. */
  readonly warnings: readonly string[];
  readonly sources: ConfigSources;
  /** Files read, in the order they were applied. */
  readonly files: readonly string[];
}

/** 'default', 'profile', '/etc/vdsm/vdsm.conf:12' or '--set section.key=value'. */
export function describeSource(from: ValueSource): string {
  switch (from.kind) {
    case 'file':
      return `${from.file}:${from.line}`;
    case 'set':
      return `--set ${from.option}`;
    default:
      return from.kind;
  }
}

interface Slot {
  raw: string;
  from: ValueSource;
}

export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const configFile = opts.configFile ?? DEFAULT_CONFIG_FILE;
  const requireMain = opts.requireConfigFile ?? opts.configFile !== undefined;
  const dropinDirs = opts.dropinDirs ?? (opts.configFile === undefined ? defaultDropinDirs : dropinDirsFor(opts.configFile));
  const violations: Violation[] = [];
  const warnings: string[] = [];

  // Layer 1: schema defaults. Layer 2: profile.
  const slots = new Map<string, Map<string, Slot>>();
  for (const { section, key, spec } of schemaEntries()) {
    if (!slots.has(section)) slots.set(section, new Map());
    slots.get(section)!.set(key, { raw: defaultText(spec), from: { kind: 'default' } });
  }
  applyProfile(opts.profile ?? {}, slots, violations);

  // Layer 3: main file then drop-ins. Unknown keys of known sections stay visible to interpolation.
  const defaults = new Map<string, Slot>();
  const extras = new Map<string, Map<string, string>>();
  const paths = [...(await mainFile(configFile, requireMain, violations)), ...(await dropinFiles(dropinDirs, violations))];
  const docs = await Promise.all(paths.map(async (path) => readDocument(path, violations)));
  const files: string[] = [];
  for (const doc of docs) {
    if (doc === undefined) continue;
    files.push(doc.file);
    applyDocument(doc, slots, defaults, extras, violations, warnings);
  }

  // Layer 4: --set.
  for (const option of opts.overrides ?? []) {
    try {
      const set = parseSetOption(option);
      const from: ValueSource = { kind: 'set', option };
      if (set.section === DEFAULT_SECTION) defaults.set(set.key, { raw: set.value, from });
      else if (keySpec(set.section, set.key) === undefined) violations.push({ where: '--set', message: `${JSON.stringify(option)}: ${unknownName(set.section, set.key)}` });
      else slots.get(set.section)!.set(set.key, { raw: set.value, from });
    } catch (err) {
      if (!(err instanceof ConfigurationError)) throw err;
      violations.push(...err.violations);
    }
  }

  // Interpolate and type every key.
  const config: Record<string, Record<string, unknown>> = {};
  const sources: Record<string, Record<string, ConfigSource>> = {};
  for (const { section, key, spec } of schemaEntries()) {
    const slot = slots.get(section)!.get(key)!;
    (sources[section] ??= {})[key] = Object.freeze({ raw: slot.raw, from: Object.freeze(slot.from) });
    const lookup = (name: string): string | undefined => slots.get(section)!.get(name)?.raw ?? extras.get(section)?.get(name) ?? defaults.get(name)?.raw;
    const expanded = interpolate(slot.raw, lookup);
    const parsed = expanded.ok ? parseValue(spec, expanded.value) : { ok: false as const, problem: `${JSON.stringify(slot.raw)}: ${expanded.problem}` };
    if (parsed.ok) {
      (config[section] ??= {})[key] = parsed.value;
      if (spec.compat && (slot.from.kind === 'file' || slot.from.kind === 'set') && slot.raw !== defaultText(spec)) {
        warnings.push(`${describeSource(slot.from)}: [${section}] ${key} is set but has no effect: ${spec.compatNote ?? 'vdsm-node does not apply it yet'}`);
      }
    } else violations.push({ ...placeOf(slot.from), section, key, message: parsed.problem });
  }
  if (violations.length > 0) throw new ConfigurationError(violations);

  return Object.freeze({
    config: deepFreeze(config) as unknown as VdsmConfig,
    warnings: Object.freeze(warnings),
    sources: deepFreeze(sources) as unknown as ConfigSources,
    files: Object.freeze(files),
  });
}

function applyProfile(profile: PartialConfig, slots: Map<string, Map<string, Slot>>, violations: Violation[]): void {
  for (const [section, keys] of Object.entries(profile as Record<string, Record<string, unknown> | undefined>)) {
    for (const [key, value] of Object.entries(keys ?? {})) {
      const spec = keySpec(section, key);
      if (spec === undefined) {
        violations.push({ where: 'profile', message: unknownName(section, key) });
        continue;
      }
      if (!matchesType(spec, value)) {
        violations.push({ where: 'profile', section, key, message: `${JSON.stringify(value)} has the wrong type (expected ${spec.type})` });
        continue;
      }
      // Profile values are final values, not file text: escape '%' so interpolation leaves them alone.
      slots.get(section)!.set(key, { raw: formatValue(spec, value).replaceAll('%', '%%'), from: { kind: 'profile' } });
    }
  }
}

function matchesType(spec: KeySpec, value: unknown): boolean {
  switch (spec.type) {
    case 'bool':
      return typeof value === 'boolean';
    case 'int':
    case 'float':
      return typeof value === 'number';
    case 'list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    default:
      return typeof value === 'string';
  }
}

function applyDocument(
  doc: IniDocument,
  slots: Map<string, Map<string, Slot>>,
  defaults: Map<string, Slot>,
  extras: Map<string, Map<string, string>>,
  violations: Violation[],
  warnings: string[],
): void {
  violations.push(...doc.problems);
  const found: { line: number; text: string }[] = [];
  for (const s of doc.sections) {
    if (s.name !== DEFAULT_SECTION && !Object.hasOwn(schema, s.name)) found.push({ line: s.line, text: `${doc.file}:${s.line}: ${unknownName(s.name)}; ignored` });
  }
  for (const e of doc.entries) {
    const from: ValueSource = { kind: 'file', file: doc.file, line: e.line };
    if (e.section === DEFAULT_SECTION) {
      defaults.set(e.key, { raw: e.value, from });
    } else if (keySpec(e.section, e.key) !== undefined) {
      slots.get(e.section)!.set(e.key, { raw: e.value, from });
    } else if (Object.hasOwn(schema, e.section)) {
      found.push({ line: e.line, text: `${doc.file}:${e.line}: ${unknownName(e.section, e.key)}; ignored` });
      if (!extras.has(e.section)) extras.set(e.section, new Map());
      extras.get(e.section)!.set(e.key, e.value);
    }
  }
  warnings.push(...found.sort((a, b) => a.line - b.line).map((w) => w.text));
}

async function mainFile(path: string, required: boolean, violations: Violation[]): Promise<string[]> {
  try {
    await stat(path);
    return [path];
  } catch (err) {
    if (errCode(err) === 'ENOENT' && !required) return [];
    violations.push({ where: path, message: `cannot read the configuration file: ${errText(err)}` });
    return [];
  }
}

/** `*.conf` files of every directory, sorted together by file name; ties keep directory order. */
async function dropinFiles(dirs: readonly string[], violations: Violation[]): Promise<string[]> {
  const found: { name: string; path: string }[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') violations.push({ where: dir, message: `cannot read the drop-in directory: ${errText(err)}` });
      continue;
    }
    for (const name of names) {
      // As Python's glob('*.conf'): hidden files do not match.
      if (!name.endsWith('.conf') || name.startsWith('.')) continue;
      const path = join(dir, name);
      try {
        if ((await stat(path)).isFile()) found.push({ name, path });
      } catch (err) {
        violations.push({ where: path, message: `cannot read the drop-in file: ${errText(err)}` });
      }
    }
  }
  // Names are unique within a directory and the sort is stable, so equal names keep directory order.
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => f.path);
}

async function readDocument(path: string, violations: Violation[]): Promise<IniDocument | undefined> {
  try {
    return parseIni(await readFile(path, 'utf8'), path);
  } catch (err) {
    violations.push({ where: path, message: `cannot read: ${errText(err)}` });
    return undefined;
  }
}

function placeOf(from: ValueSource): Pick<Violation, 'where' | 'line'> {
  switch (from.kind) {
    case 'file':
      return { where: from.file, line: from.line };
    case 'set':
      return { where: '--set' };
    default:
      return { where: from.kind };
  }
}

/** "unknown key 'sssl' in section [vars] (did you mean 'ssl'?)" and friends. */
function unknownName(section: string, key?: string): string {
  if (!Object.hasOwn(schema, section)) {
    if (VDSM_ONLY_SECTIONS.includes(section)) return `vdsm section [${section}] is not used by vdsm-node`;
    return `unknown section [${section}]${suggest(section, Object.keys(schema))}`;
  }
  return `unknown key '${key ?? ''}' in section [${section}]${suggest(key ?? '', Object.keys(schema[section as SectionName]))}`;
}

function suggest(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
