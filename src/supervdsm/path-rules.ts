// Path checks every supervdsm function applies before it touches the filesystem: canonical absolute
// paths only, inside the roots the function may act on. This is the lexical half; the worker half
// (workers/ops/supervdsm.ts) opens the path without following a final symlink and checks where the
// kernel says the opened file really is, so a symlink swapped in later cannot lead outside either.
import { Errors, vdsmError, type VdsmError } from '../errors.js';

/** Longest path accepted (PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

/** True when `path` is `root` itself or below it (both canonical). */
export function isUnder(path: string, root: string): boolean {
  if (root === '/') return path.startsWith('/');
  return path === root || path.startsWith(`${root}/`);
}

/**
 * Why `path` is not a canonical absolute path (a string starting with '/', no NUL, no empty, '.' or
 * '..' segment, no trailing slash), or undefined when it is.
 */
export function canonicalProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'must be a string';
  if (path.length === 0 || !path.startsWith('/')) return 'must be an absolute path';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path === '/') return undefined;
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    if (seg === '') return 'contains an empty segment (// or a trailing /)';
    if (seg === '.' || seg === '..') return `contains a '${seg}' segment`;
  }
  return undefined;
}

/** A path refused by the rules: PATH_NOT_ALLOWED with the argument, the path and the roots. */
export function pathRefused(what: string, path: unknown, roots: readonly string[], why: string): VdsmError {
  return vdsmError(Errors.SVDSM_PATH_NOT_ALLOWED, {
    argument: what, path: typeof path === 'string' ? path : String(path), reason: why, roots: [...roots],
  });
}

/**
 * `path` if it is canonical and strictly below one of `roots` (the root itself is not accepted:
 * functions act on entries inside their directories). Throws PATH_NOT_ALLOWED otherwise.
 */
export function requireUnder(what: string, path: unknown, roots: readonly string[]): string {
  const problem = canonicalProblem(path);
  if (problem !== undefined) throw pathRefused(what, path, roots, problem);
  const p = path as string;
  if (!roots.some((root) => p !== root && isUnder(p, root))) {
    throw pathRefused(what, p, roots, 'is outside the allowed roots');
  }
  return p;
}

/** A single path component: no '/', no NUL, not '.' or '..', printable, at most 255 bytes. */
export function isPlainName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && Buffer.byteLength(name) <= 255 && name !== '.' && name !== '..' &&
    !/[/\0\s]/.test(name) && !/\p{Cc}/u.test(name);
}
