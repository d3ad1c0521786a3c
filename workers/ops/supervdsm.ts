// Filesystem steps of supervdsm's privileged functions, run in the helper's Executor workers so a
// write that blocks (a sysfs attribute the kernel takes seconds over, a hung mount) holds one worker,
// never the helper's event loop. Each step opens its path without following a final symlink, then asks
// the kernel where the opened file really is (/proc/self/fd) and refuses it outside the given roots, so
// a path swapped for a symlink between the helper's check and this step still cannot lead elsewhere.
// (Node opens every descriptor close-on-exec.) Arguments were validated by the function on the helper's main thread; these steps trust only that.
import {
  chmodSync, chownSync, closeSync, constants as C, fstatSync, fsyncSync, openSync, readdirSync, readlinkSync, readSync, realpathSync,
  renameSync, statSync, unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AreaOps } from '../../src/contracts/operations.js';
import type { OwnerMode, PathKind } from '../../src/contracts/supervdsm-ops.js';
import { Errors, vdsmError } from '../../src/errors.js';

/** O_PATH (Linux): a descriptor that names a file without opening it for I/O; sockets can be named too. */
const O_PATH = 0o10000000;

type Kind = PathKind;

/** `path` is `root` or below it (both canonical; the main side's path-rules.ts has the same rule). */
function isUnder(path: string, root: string): boolean {
  return root === '/' ? path.startsWith('/') : path === root || path.startsWith(`${root}/`);
}

function kindOf(st: Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block';
  if (st.isCharacterDevice()) return 'char';
  if (st.isSymbolicLink()) return 'link';
  return 'other';
}

function osError(err: unknown, path: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ELOOP') {
    return vdsmError(Errors.SVDSM_PATH_NOT_ALLOWED, { path, reason: 'is a symbolic link (links are not followed)' });
  }
  if (typeof e.code === 'string' && e.code.startsWith('ERR_')) return e;
  return vdsmError(Errors.SVDSM_OS_ERROR, { path, errno: e.code ?? 'unknown', syscall: e.syscall ?? 'fs', detail: e.message });
}

interface Opened { fd: number; real: string; st: Stats }

/**
 * Open `path` (final symlink not followed) and check the opened file's real location is inside one of
 * `roots` (strictly below, unless `allowRoot`) and of kind `expect`.
 */
function openChecked(path: string, roots: readonly string[], flags: number, expect: readonly Kind[], allowRoot = false): Opened {
  let fd: number;
  try {
    fd = openSync(path, flags | C.O_NOFOLLOW);
  } catch (err) {
    throw osError(err, path);
  }
  try {
    const real = readlinkSync(`/proc/self/fd/${fd}`);
    if (!roots.some((r) => isUnder(real, r) && (allowRoot || real !== r))) {
      throw vdsmError(Errors.SVDSM_PATH_NOT_ALLOWED, { path, resolved: real, reason: 'resolves outside the allowed roots', roots: [...roots] });
    }
    const st = fstatSync(fd);
    const kind = kindOf(st);
    if (kind === 'link' && !expect.includes('link')) {
      // O_PATH | O_NOFOLLOW opens a final symlink itself instead of failing with ELOOP.
      throw vdsmError(Errors.SVDSM_PATH_NOT_ALLOWED, { path, reason: 'is a symbolic link (links are not followed)' });
    }
    if (!expect.includes(kind)) {
      throw vdsmError(Errors.SVDSM_NOT_ALLOWED, { path, reason: `is a ${kind}, expected ${expect.join(' or ')}` });
    }
    return { fd, real, st };
  } catch (err) {
    closeSync(fd);
    throw osError(err, path);
  }
}

function withOpened<T>(o: Opened, fn: (o: Opened) => T): T {
  try {
    return fn(o);
  } finally {
    closeSync(o.fd);
  }
}

const describeStat = (st: Stats): OwnerMode => ({ uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });

export const ops: AreaOps<'supervdsm'> = {
  /** Write `data` to an existing file (a sysfs attribute): no create, no truncate beyond the kernel's. */
  'svdsm.write': (a) => withOpened(openChecked(a.path, a.roots, C.O_WRONLY, ['file']), (o) => {
    try {
      const buf = Buffer.from(a.data);
      const n = writeSync(o.fd, buf, 0, buf.length);
      return { written: n };
    } catch (err) {
      throw osError(err, a.path);
    }
  }),

  /** Read at most maxBytes of a file. */
  'svdsm.read': (a) => withOpened(openChecked(a.path, a.roots, C.O_RDONLY, ['file']), (o) => {
    const buf = Buffer.alloc(Math.max(1, a.maxBytes));
    let len = 0;
    try {
      for (let n; len < buf.length && (n = readSync(o.fd, buf, len, buf.length - len, null)) > 0;) len += n;
    } catch (err) {
      throw osError(err, a.path);
    }
    return buf.subarray(0, len).toString('utf8');
  }),

  /** Atomically create or replace `dir/name` (a rule file): temp file, fsync, rename, in a checked dir. */
  'svdsm.replace': (a) => withOpened(openChecked(a.dir, a.roots, O_PATH | C.O_DIRECTORY, ['dir'], true), (d) => {
    const base = `/proc/self/fd/${d.fd}`;
    const tmp = `${base}/.${a.name}.${randomBytes(6).toString('hex')}.tmp`;
    let fd = -1;
    try {
      fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, a.mode);
      writeSync(fd, Buffer.from(a.data));
      fsyncSync(fd);
      closeSync(fd);
      fd = -1;
      renameSync(tmp, `${base}/${a.name}`);
      return { path: `${d.real}/${a.name}` };
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      try { unlinkSync(tmp); } catch { /* not created */ }
      throw osError(err, `${a.dir}/${a.name}`);
    }
  }),

  /** Remove `dir/name`; {existed: false} when it was not there. */
  'svdsm.unlink': (a) => withOpened(openChecked(a.dir, a.roots, O_PATH | C.O_DIRECTORY, ['dir'], true), (d) => {
    try {
      unlinkSync(`/proc/self/fd/${d.fd}/${a.name}`);
      return { existed: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { existed: false };
      throw osError(err, `${a.dir}/${a.name}`);
    }
  }),

  /** Names in a checked directory, sorted. */
  'svdsm.list': (a) => withOpened(openChecked(a.dir, a.roots, O_PATH | C.O_DIRECTORY, ['dir'], true), (d) => {
    try {
      return readdirSync(`/proc/self/fd/${d.fd}`).sort();
    } catch (err) {
      throw osError(err, a.dir);
    }
  }),

  /**
   * vdsm's prepareVmChannel: add group write to a channel socket and optionally give it to `gid`,
   * through the descriptor's /proc link so exactly the checked socket changes.
   */
  'svdsm.socketAccess': (a) => withOpened(openChecked(a.path, a.roots, O_PATH, ['socket']), (o) => {
    const before = describeStat(o.st);
    const link = `/proc/self/fd/${o.fd}`;
    try {
      if (a.gid !== undefined && a.gid !== o.st.gid) chownSync(link, o.st.uid, a.gid);
      const mode = (o.st.mode & 0o7777) | (a.groupWrite ? 0o020 : 0);
      if (mode !== (o.st.mode & 0o7777)) chmodSync(link, mode);
      return { path: o.real, before, after: describeStat(fstatSync(o.fd)) };
    } catch (err) {
      throw osError(err, a.path);
    }
  }),

  /** Kind, owner and mode of a path (final symlink not followed). */
  'svdsm.stat': (a) => withOpened(openChecked(a.path, a.roots, O_PATH, ['file', 'dir', 'socket', 'block', 'char', 'link', 'other']), (o) => ({
    path: o.real, kind: kindOf(o.st), ...describeStat(o.st),
  })),

  /**
   * Send a uevent for the device node at `path` (udevadm trigger for one device): the node's device
   * number leads to /sys/dev/{block,char}/M:m, whose `uevent` attribute takes the action. The node may
   * be reached through /dev symlinks (/dev/mapper/...), but must be a device node under `roots`.
   */
  'svdsm.triggerDevice': (a) => {
    let real: string;
    try {
      real = realpathSync(a.path);
    } catch (err) {
      throw osError(err, a.path);
    }
    if (!a.roots.some((r) => isUnder(real, r) && real !== r)) {
      throw vdsmError(Errors.SVDSM_PATH_NOT_ALLOWED, { path: a.path, resolved: real, reason: 'resolves outside the allowed roots', roots: a.roots });
    }
    const st = statSync(real, { bigint: true });
    const kind = st.isBlockDevice() ? 'block' : st.isCharacterDevice() ? 'char' : undefined;
    if (kind === undefined) throw vdsmError(Errors.SVDSM_NOT_ALLOWED, { path: a.path, reason: 'is not a device node' });
    const rdev = st.rdev;
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    let syspath: string;
    try {
      syspath = realpathSync(`/sys/dev/${kind}/${major}:${minor}`);
    } catch (err) {
      throw osError(err, `/sys/dev/${kind}/${major}:${minor}`);
    }
    const uevent = `${syspath}/uevent`;
    withOpened(openChecked(uevent, ['/sys/devices'], C.O_WRONLY, ['file']), (o) => {
      try {
        writeSync(o.fd, Buffer.from(a.action));
      } catch (err) {
        throw osError(err, uevent);
      }
    });
    return { device: real, syspath, major, minor, action: a.action };
  },
};
