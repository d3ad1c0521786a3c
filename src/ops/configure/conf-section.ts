// Editing other programs' configuration files (libvirtd.conf, qemu.conf, sasl2/libvirt.conf) the way
// vdsm's configurators do: our keys go into one block between marker lines carrying a version, a key the
// administrator set outside the block is left alone (and reported), an older block is replaced, and
// "configured" means the block of the current version is there. Files are replaced atomically
// (temporary file + rename) with their mode kept.
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const SECTION_BEGIN = '## vdsm-node configuration begins';
export const SECTION_END = '## vdsm-node configuration ends';

/** How a file assigns values: `key = value` (libvirt) or `key: value` (Cyrus SASL). */
export type Syntax = '=' | ':';

export type Entries = ReadonlyArray<readonly [key: string, value: string]>;

const keyPattern = (syntax: Syntax): RegExp => (syntax === '=' ? /^\s*([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$/ : /^\s*([A-Za-z_][\w.-]*)\s*:\s*(.*?)\s*$/);

/** The text without any of our blocks, whatever their version. */
export function stripSection(text: string): string {
  const out: string[] = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (!inside && line.startsWith(SECTION_BEGIN)) inside = true;
    else if (inside && line.startsWith(SECTION_END)) inside = false;
    else if (!inside) out.push(line);
  }
  return out.join('\n');
}

/** Keys assigned on active (uncommented) lines, with their last value. */
export function activeAssignments(text: string, syntax: Syntax): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const m = keyPattern(syntax).exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

export function hasSection(text: string, version: string): boolean {
  return text.split('\n').some((l) => l === `${SECTION_BEGIN} (version ${version})`);
}

export interface Applied {
  text: string;
  /** Keys the administrator set outside our block, kept as they are: [key, their value, ours]. */
  kept: Array<[string, string, string]>;
  /** Active lines commented out because our block overrides them (override mode). */
  commented: string[];
}

/**
 * Replace our block. `mode: 'respect'` leaves keys set outside the block to the administrator (vdsm's
 * way for libvirtd.conf and qemu.conf); `mode: 'override'` comments those lines out so the block wins
 * (for files whose parser would take the first value, like Cyrus SASL's).
 */
export function applySection(text: string, version: string, entries: Entries, syntax: Syntax, mode: 'respect' | 'override' = 'respect'): Applied {
  const sep = syntax === '=' ? ' = ' : ': ';
  let body = stripSection(text);
  const kept: Applied['kept'] = [];
  const commented: string[] = [];
  const ours = new Map(entries.map(([k, v]) => [k, v]));
  if (mode === 'override') {
    body = body.split('\n').map((line) => {
      const m = /^\s*#/.test(line) ? null : keyPattern(syntax).exec(line);
      if (m && ours.has(m[1]!)) {
        commented.push(line);
        return `#vdsm-node# ${line}`;
      }
      return line;
    }).join('\n');
  }
  const outside = activeAssignments(body, syntax);
  const lines: string[] = [];
  for (const [k, v] of entries) {
    const theirs = outside.get(k);
    if (theirs !== undefined) kept.push([k, theirs, v]);
    else lines.push(`${k}${sep}${v}`);
  }
  const trimmed = body.replace(/\n+$/, '');
  const block = [`${SECTION_BEGIN} (version ${version})`, '## written by vdsm-tool configure; edit outside this block, it is replaced on the next run', ...lines, SECTION_END];
  return { text: `${trimmed}${trimmed ? '\n' : ''}${block.join('\n')}\n`, kept, commented };
}

/** Read a file, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write `text` to `path` through a temporary file and a rename, keeping the old file's mode. */
export async function replaceFile(path: string, text: string, newMode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const mode = await stat(path).then((s) => s.mode & 0o7777, () => newMode);
  const tmp = `${path}.vdsm-node-${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}
