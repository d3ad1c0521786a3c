// The host's id as vdsm defines it (lib/vdsm/host uuid()): the first line of /etc/vdsm/vdsm.id when it
// exists, else the DMI system UUID (lower case). Where a machine has neither (no DMI: many VMs, some
// ARM boards), /etc/machine-id as a UUID, else a random UUID. The engine tells hosts apart by this id;
// `vdsm-tool vdsm-id` prints it and persists it to vdsm.id so it survives a board swap or a new image.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const VDSM_ID_PATH = 'etc/vdsm/vdsm.id';

export type HostIdSource = 'vdsm.id' | 'dmi' | 'machine-id' | 'generated';

export interface HostIdFacts {
  vdsmId?: string | null | undefined;
  productUuid?: string | null | undefined;
  machineId?: string | null | undefined;
}

/** DMI UUIDs firmware vendors leave unset; many machines share them, so they identify nothing. */
export function placeholderUuid(uuid: string): boolean {
  const hex = uuid.toLowerCase().replace(/-/g, '');
  return /^(0{32}|f{32})$/.test(hex) || hex === '03000200040005000006000700080009';
}

/** /etc/machine-id (32 hex digits) written as a UUID. */
export function uuidFromMachineId(id: string): string {
  const h = id.trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(h)) return h;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The id from what the host offers, in vdsm's order; undefined when it offers nothing. */
export function chooseHostId(f: HostIdFacts): { id: string; source: Exclude<HostIdSource, 'generated'> } | undefined {
  const vdsmId = f.vdsmId?.split('\n')[0]?.trim();
  if (vdsmId) return { id: vdsmId, source: 'vdsm.id' };
  const dmi = f.productUuid?.trim();
  if (dmi) return { id: dmi.toLowerCase(), source: 'dmi' };
  const mid = f.machineId?.trim();
  if (mid) return { id: uuidFromMachineId(mid), source: 'machine-id' };
  return undefined;
}

const readTrimmed = (file: string): Promise<string | null> => readFile(file, 'utf8').then((t) => t.trim() || null, () => null);

/** Read the id under `root` ('/' on a host, a temp tree in tests); generate one when nothing is there. */
export async function readHostId(root = '/'): Promise<{ id: string; source: HostIdSource; facts: HostIdFacts }> {
  const facts: HostIdFacts = {
    vdsmId: await readTrimmed(join(root, VDSM_ID_PATH)),
    productUuid: await readTrimmed(join(root, 'sys/class/dmi/id/product_uuid')),
    machineId: await readTrimmed(join(root, 'etc/machine-id')),
  };
  const chosen = chooseHostId(facts);
  return chosen ? { ...chosen, facts } : { id: randomUUID(), source: 'generated', facts };
}

/** Write the id to <root>/etc/vdsm/vdsm.id (created with its directory; an existing file is kept). */
export async function persistHostId(root: string, id: string): Promise<boolean> {
  const file = join(root, VDSM_ID_PATH);
  await mkdir(dirname(file), { recursive: true });
  try {
    await writeFile(file, `${id}\n`, { mode: 0o644, flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}
