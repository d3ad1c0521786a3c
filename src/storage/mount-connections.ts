// Storage connections that are mounts (vdsm's storageServer.py: NFSConnection, MountConnection for
// POSIXFS, GlusterFSConnection): what to mount, where and with which options, from the engine's
// connection parameters. Pure: the mount itself is root's work and goes through supervdsm's `mount`
// function (src/supervdsm/functions/mount.ts), reached through the StorageMounter port the agent wires.
import { Errors, storageError } from '../errors.js';
import { DOMAIN_TYPE_NAMES, DomainType, GLUSTER_MOUNT_DIR } from '../contracts/storage-constants.js';
import { transformPath, type RepoLayout } from '../contracts/storage-layout.js';

/** The privileged half of a mount connection (supervdsm's mount / umount), as the storage code sees it. */
export interface StorageMounter {
  mount(a: { spec: string; target: string; vfstype: string; options: string }): Promise<unknown>;
  umount(a: { target: string; force?: boolean; lazy?: boolean }): Promise<unknown>;
}

export interface MountRequest {
  spec: string;
  /** <repo>/mnt/<mangled spec>, or <repo>/mnt/glusterSD/<mangled spec> for GLUSTERFS. */
  target: string;
  vfstype: string;
  options: string;
}

/** Domain types whose connection is a mount. */
export const MOUNT_TYPES: ReadonlySet<number> = new Set([DomainType.NFS, DomainType.POSIXFS, DomainType.GLUSTERFS]);

const NFS_TIMEO = 600;
const NFS_RETRANS = 6;

function str(c: Record<string, unknown>, key: string): string | undefined {
  const v = c[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  if (typeof v === 'number') return String(v);
  throw storageError(Errors.SD_INVALID_PARAMETER, { value: `${key}=${JSON.stringify(v)}` });
}

function positive(c: Record<string, unknown>, key: string, fallback: number): number {
  const v = str(c, key);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) === 0) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `${key}=${v}` });
  return Number(v);
}

/** Options that decide the same thing: the first one given wins. */
const SAME: Readonly<Record<string, string>> = { hard: 'soft', rw: 'ro', sharecache: 'nosharecache' };

/** Options in order, the first occurrence of a name kept (the connection's own beat the defaults). */
function joinOptions(...groups: (string | undefined)[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const g of groups) {
    for (const o of (g ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')) {
      const key = o.split('=')[0]!;
      const name = SAME[key] ?? key;
      if (seen.has(name)) continue;
      seen.add(name);
      out.push(o);
    }
  }
  return out.join(',');
}

/** Where a connection of a mount type is mounted: mnt/<mangled spec> (GLUSTERFS: mnt/glusterSD/<mangled spec>). */
export function mountTarget(type: number, spec: string, layout: RepoLayout): string {
  return type === DomainType.GLUSTERFS ? `${layout.mountDir}/${GLUSTER_MOUNT_DIR}/${transformPath(spec)}` : layout.mountPoint(spec);
}

/**
 * The mount of one connection. NFS: `nfs`, `[irs] nfs_mount_options` plus timeo / retrans (the
 * connection's `timeout` and `retrans`, 600 and 6 by default) and `vers=` from `protocol_version`
 * unless "auto"; POSIXFS: the connection's `vfs_type`; GLUSTERFS: `glusterfs` below mnt/glusterSD/.
 * `mnt_options` come first and win over the defaults.
 */
export function mountRequest(type: number, c: Record<string, unknown>, layout: RepoLayout, nfsMountOptions: string): MountRequest {
  const spec = str(c, 'connection') ?? str(c, 'spec');
  if (spec === undefined) throw storageError(Errors.SD_INVALID_PARAMETER, { value: 'connection=' });
  const extra = str(c, 'mnt_options');
  switch (type) {
    case DomainType.NFS: {
      const version = str(c, 'protocol_version');
      const vers = version === undefined || version.toLowerCase() === 'auto' ? undefined : `vers=${version}`;
      if (vers !== undefined && !/^vers=\d+(\.\d+)?$/.test(vers)) throw storageError(Errors.SD_INVALID_PARAMETER, { value: `protocol_version=${version}` });
      const tuning = `timeo=${positive(c, 'timeout', NFS_TIMEO)},retrans=${positive(c, 'retrans', NFS_RETRANS)}`;
      return { spec, target: mountTarget(type, spec, layout), vfstype: 'nfs', options: joinOptions(extra, vers, nfsMountOptions, tuning) };
    }
    case DomainType.POSIXFS: {
      const vfstype = str(c, 'vfs_type') ?? str(c, 'vfsType');
      if (vfstype === undefined) throw storageError(Errors.SD_INVALID_PARAMETER, { value: 'vfs_type=' });
      return { spec, target: mountTarget(type, spec, layout), vfstype, options: joinOptions(extra) };
    }
    case DomainType.GLUSTERFS:
      return { spec, target: mountTarget(type, spec, layout), vfstype: 'glusterfs', options: joinOptions(extra) };
    default:
      throw storageError(Errors.SD_SERVER_CONNECTION, [`${DOMAIN_TYPE_NAMES[type] ?? type} storage is not supported by vdsm-node`]);
  }
}
