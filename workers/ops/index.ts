// Every operation area a worker serves, registered statically: the type says each area module must
// export `ops` implementing exactly its contract (src/contracts/operations.ts), so a missing area or
// operation fails the build. Modules load on demand, so an Executor limited to some areas
// (`opsModules`) never pays for the others' imports.
import type { OpRegistry } from '../../src/contracts/operations.js';

export const AREAS: OpRegistry = {
  libvirt: () => import('./libvirt.js'),
  sampling: () => import('./sampling.js'),
  host: () => import('./host.js'),
  hostdev: () => import('./hostdev.js'),
  guest: () => import('./guest.js'),
  test: () => import('./test.js'),
  supervdsm: () => import('./supervdsm.js'),
  'storage-domain': () => import('./storage-domain.js'),
  'storage-volume': () => import('./storage-volume.js'),
  'storage-tasks': () => import('./storage-tasks.js'),
  'storage-recovery': () => import('./storage-recovery.js'),
  migration: () => import('./migration.js'),
};
