// One real-VM host with storage: a session libvirtd (QEMU as its unprivileged user), vdsmd on it with a
// repository under a mode-755 temporary directory (so QEMU can reach the volumes), the engine's STOMP
// client, and a local data center brought up with the engine's calls. Shared by the real-VM tests that
// run guests on (or hibernate them to) storage volumes.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentProcess } from '../../helpers/agent-process.js';
import { EngineClient } from '../../helpers/engine-client.js';
import { bringUpLocalDc, newDc, type LocalDc } from '../../helpers/storage-engine.js';
import type { RealVmAssets } from './assets.js';
import { startSessionLibvirtd, type SessionLibvirtd } from './libvirtd.js';
import { Virsh } from './virsh.js';

export interface StorageHost {
  lv: SessionLibvirtd;
  virsh: Virsh;
  root: string;
  repo: string;
  agent: AgentProcess;
  engine: EngineClient;
  dc: LocalDc;
  stop(): Promise<void>;
}

/** `prefix`: the temporary directory's name prefix; `args`: more vdsmd --set arguments. */
export async function startStorageHost(assets: RealVmAssets, o: { prefix: string; args?: string[]; callTimeoutMs: number }): Promise<StorageHost> {
  const lv = await startSessionLibvirtd();
  const virsh = new Virsh(lv.uri('qemu'), { binary: assets.tools.virsh });
  const root = await mkdtemp(o.prefix);
  let agent: AgentProcess | undefined;
  let engine: EngineClient | undefined;
  const stop = async (): Promise<void> => {
    engine?.close();
    await agent?.kill();
    await lv.stop();
    await rm(root, { recursive: true, force: true });
  };
  try {
    // QEMU runs as the session daemon's user: it must reach the volumes through the repository.
    await chmod(root, 0o755);
    const repo = join(root, 'repo');
    const data = join(root, 'data');
    await mkdir(data, { mode: 0o755 });
    await chmod(data, 0o755);
    const dc = newDc(data);
    agent = await AgentProcess.start({
      stateDir: join(root, 'state'),
      args: ['--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', `irs.repository=${repo}`, ...(o.args ?? [])],
    });
    await agent.whenReady(o.callTimeoutMs);
    engine = await EngineClient.connect({ port: agent.port });
    await bringUpLocalDc(engine, dc);
    return { lv, virsh, root, repo, agent, engine, dc, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The engine's <ovirt-vm:device> for a disk on a storage domain, and its /rhev path as the source. */
export function withStorageDisk(xml: string, dc: LocalDc, img: string, vol: string): string {
  const device = `      <ovirt-vm:device name="vda" devtype="disk">
        <ovirt-vm:poolID>${dc.spUUID}</ovirt-vm:poolID>
        <ovirt-vm:domainID>${dc.sdUUID}</ovirt-vm:domainID>
        <ovirt-vm:imageID>${img}</ovirt-vm:imageID>
        <ovirt-vm:volumeID>${vol}</ovirt-vm:volumeID>
      </ovirt-vm:device>
    </ovirt-vm:vm>`;
  assert.ok(xml.includes('</ovirt-vm:vm>') && xml.includes('ENGINE_PATH'));
  return xml.replace('</ovirt-vm:vm>', device).replace('ENGINE_PATH', `/rhev/data-center/${dc.spUUID}/${dc.sdUUID}/images/${img}/${vol}`);
}
