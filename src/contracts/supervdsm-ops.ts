// Operations of workers/ops/supervdsm.ts: the filesystem steps of supervdsmd's privileged functions,
// run in the helper's Executor workers (src/supervdsm/helper-fs.ts dispatches them). Each takes the
// roots the opened file must really be under. Types only.

export interface OwnerMode {
  uid: number;
  gid: number;
  mode: number;
}

export type PathKind = 'file' | 'dir' | 'socket' | 'block' | 'char' | 'link' | 'other';

export interface SupervdsmWriteArgs { path: string; roots: string[]; data: string }
export interface SupervdsmReadArgs { path: string; roots: string[]; maxBytes: number }
export interface SupervdsmReplaceArgs { dir: string; roots: string[]; name: string; data: string; mode: number }
export interface SupervdsmDirEntryArgs { dir: string; roots: string[]; name: string }
export interface SupervdsmListArgs { dir: string; roots: string[] }
export interface SupervdsmSocketAccessArgs { path: string; roots: string[]; gid?: number; groupWrite: boolean }
export interface SupervdsmStatArgs { path: string; roots: string[] }
export interface SupervdsmTriggerArgs { path: string; roots: string[]; action: 'change' | 'add' }

/** Operation name -> { args, result } of workers/ops/supervdsm.ts. */
export interface SupervdsmOps {
  /** Write to an existing file (a sysfs attribute): no create. */
  'svdsm.write': { args: SupervdsmWriteArgs; result: { written: number } };
  /** At most maxBytes of a file, as UTF-8. */
  'svdsm.read': { args: SupervdsmReadArgs; result: string };
  /** Create or atomically replace dir/name (temp file, fsync, rename); dir may be a root itself. */
  'svdsm.replace': { args: SupervdsmReplaceArgs; result: { path: string } };
  /** Remove dir/name; existed false when it was not there. */
  'svdsm.unlink': { args: SupervdsmDirEntryArgs; result: { existed: boolean } };
  /** Names in a directory, sorted. */
  'svdsm.list': { args: SupervdsmListArgs; result: string[] };
  /** Group write (and optionally a new group) on a socket, through its own descriptor. */
  'svdsm.socketAccess': { args: SupervdsmSocketAccessArgs; result: { path: string; before: OwnerMode; after: OwnerMode } };
  /** Kind, owner and mode (final symlink not followed). */
  'svdsm.stat': { args: SupervdsmStatArgs; result: { path: string; kind: PathKind } & OwnerMode };
  /** A uevent for the device node at path (through /sys/dev/{block,char}/M:m/uevent). */
  'svdsm.triggerDevice': { args: SupervdsmTriggerArgs; result: { device: string; syspath: string; major: number; minor: number; action: string } };
}
