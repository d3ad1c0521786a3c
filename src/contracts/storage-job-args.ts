// Arguments of the storage jobs (workers/storage/jobs.ts), as the HSM builds them. Types only: the
// main thread and the task-pool worker both import this file.

export interface CreateVolumeArgs {
  dir: string;
  repoPath: string;
  sdUUID: string;
  imgUUID: string;
  volUUID: string;
  /** Bytes, already rounded up to 4 KiB. */
  capacity: number;
  format: 'RAW' | 'COW';
  type: 'SPARSE' | 'PREALLOCATED';
  disktype: string;
  description: string;
  /** A snapshot's parent in the same image. */
  parent?: { volUUID: string; format: 'RAW' | 'COW' };
  domainVersion: number;
  legal: boolean;
  sequence: number;
  qcow2Compat: string;
}

export interface CopyImageArgs {
  src: { dir: string; imgUUID: string; volUUID: string; format: 'RAW' | 'COW' };
  dst: CreateVolumeArgs;
}

export interface DeleteVolumeArgs {
  dir: string;
  sdUUID: string;
  imgUUID: string;
  volumes: string[];
  force: boolean;
  domainVersion: number;
}
