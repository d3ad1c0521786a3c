// A vdsmd on libvirt's test driver with a LOCALFS data center brought up by the engine's calls, in a
// temporary directory: the storage e2e tests' common start (hibernation, VM.snapshot's job).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcess } from './agent-process.js';
import { EngineClient } from './engine-client.js';
import { bringUpLocalDc, newDc, type LocalDc } from './storage-engine.js';

export interface LocalDcHost {
  root: string;
  agent: AgentProcess;
  engine: EngineClient;
  dc: LocalDc;
  /** Close the engine connection, stop the agent, remove the directory. */
  stop(): Promise<void>;
}

/** `prefix`: the temporary directory's name prefix (under the system's tmpdir); `args`: more vdsmd --set arguments. */
export async function startLocalDcHost(prefix: string, args: string[] = []): Promise<LocalDcHost> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const dc = newDc(join(root, 'local_images'));
  let agent: AgentProcess | undefined;
  let engine: EngineClient | undefined;
  const stop = async (): Promise<void> => {
    engine?.close();
    await agent?.cleanup();
    await rm(root, { recursive: true, force: true });
  };
  try {
    await mkdir(dc.path, { recursive: true });
    agent = await AgentProcess.start({
      args: [...args, '--set', `irs.repository=${join(root, 'rhev', 'data-center')}`, '--set', 'vars.guest_wait_timeout=0', '--set', 'irs.sd_health_check_delay=1'],
    });
    engine = await EngineClient.connect({ port: agent.port });
    await agent.whenReady();
    await bringUpLocalDc(engine, dc);
    return { root, agent, engine, dc, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
