// Two hypervisor hosts on one machine for live-migration tests (reference/migration.md §3): one private
// network namespace with two addresses on its lo; each host is an unprivileged session libvirtd bound to
// its address (TCP 16509 without authentication, its own host_uuid, incoming migrations on its address)
// plus a vdsmd serving 54321 on the same address, both run inside the namespace with nsenter. The agents
// talk TLS with one CA, as an engine deploys them. The test process stays in the machine's namespace and
// plays the engine through a relay per agent (a unix socket forwarded into the namespace). Names carry a
// random suffix so concurrent runs never collide; close() removes everything it made.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureDevPki } from '../../../src/rpc/pki.js';
import { AgentProcess } from '../../helpers/agent-process.js';
import { EngineClient } from '../../helpers/engine-client.js';
import { pidsUsingDir, startSessionLibvirtd, type SessionLibvirtd } from '../realvm/libvirtd.js';

const run = promisify(execFile);
const RELAY = fileURLToPath(new URL('./netns-relay.js', import.meta.url));

export type Obj = Record<string, unknown>;

export interface TlsFiles {
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
}

export interface MigrationHost {
  readonly name: string;
  /** Its address in the namespace: the agent's `dst` and libvirt's migration address. */
  readonly address: string;
  readonly lv: SessionLibvirtd;
  readonly agent: AgentProcess;
  /** The engine's client of this agent (stompit, over the relay). */
  readonly engine: EngineClient;
  /** GET a path of the management port's HTTP side (/health). */
  http(path: string): Promise<Obj>;
}

export interface TwoHosts {
  readonly netns: string;
  readonly a: MigrationHost;
  readonly b: MigrationHost;
  /** A directory both daemons' QEMUs can use (console logs, initramfs variants). */
  readonly shared: string;
  readonly tls: TlsFiles;
  close(): Promise<void>;
}

export interface TwoHostsOptions {
  /** Extra vdsmd arguments for both agents. */
  agentArgs?: string[];
}

/** True where this tier can run: root (namespaces), ip and nsenter. */
export async function twoHostsAvailable(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (process.getuid?.() !== 0) return { ok: false, why: 'network namespaces need root' };
  for (const tool of ['ip', 'nsenter']) {
    try {
      await run('bash', ['-c', `command -v ${tool}`]);
    } catch {
      return { ok: false, why: `${tool} is missing` };
    }
  }
  return { ok: true };
}

class Relay {
  readonly socket: string;
  #child: ChildProcess;
  constructor(socket: string, child: ChildProcess) {
    this.socket = socket;
    this.#child = child;
  }

  static async start(netns: string, socket: string, host: string, port: number): Promise<Relay> {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, process.execPath, RELAY, socket, host, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('relay listening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
    });
    return new Relay(socket, child);
  }

  close(): void {
    this.#child.stdin?.end();
    this.#child.kill();
  }
}

async function startHost(o: {
  name: string; netns: string; address: string; pkiDir: string; tls: TlsFiles; scratch: string; agentArgs: string[];
}): Promise<{ host: MigrationHost; relay: Relay }> {
  const lv = await startSessionLibvirtd({ netns: o.netns, hostUuid: randomUUID(), listenAddress: o.address, migrationAddress: o.address });
  let agent: AgentProcess | undefined;
  try {
    agent = await AgentProcess.start({
      prefix: ['nsenter', `--net=/run/netns/${o.netns}`],
      args: [
        '--set', `addresses.management_ip=${o.address}`, '--set', 'addresses.management_port=54321',
        // devel.embedded off: the trust store given, shared by both hosts, not a development PKI each.
        '--set', 'vars.ssl=true', '--set', 'devel.embedded=false', '--set', `vars.trust_store_path=${o.pkiDir}`,
        '--set', `libvirt.uri=${lv.uri('qemu')}`, '--set', 'libvirt.migration_uri=qemu+tcp://{host}/session',
        // A real hypervisor (TCG): no fake KVM, which the dev profile turns on.
        '--set', 'vars.fake_kvm_support=false', '--set', 'vars.vm_sample_interval=2', '--set', 'vars.host_sample_stats_interval=2',
        '--set', 'vars.migration_monitor_interval=1',
        ...o.agentArgs,
      ],
    });
    await agent.whenReady(60_000);
    const relay = await Relay.start(o.netns, join(o.scratch, `${o.name}.sock`), o.address, 54321);
    const engine = await EngineClient.connect({ port: 0, path: relay.socket, tls: o.tls });
    const host: MigrationHost = {
      name: o.name, address: o.address, lv, agent, engine,
      http: (path) => httpsGet(relay.socket, path, o.tls),
    };
    return { host, relay };
  } catch (err) {
    await agent?.cleanup();
    await lv.stop();
    throw err;
  }
}

function httpsGet(socketPath: string, path: string, tls: TlsFiles): Promise<Obj> {
  return new Promise((resolve, reject) => {
    request({ socketPath, path, ...tls, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
        try {
          resolve(JSON.parse(body) as Obj);
        } catch (err) {
          reject(err as Error);
        }
      });
    }).on('error', reject).end();
  });
}

export async function startTwoHosts(opts: TwoHostsOptions = {}): Promise<TwoHosts> {
  const netns = `vdsm-mig-${randomBytes(3).toString('hex')}`;
  const scratch = await mkdtemp(join(tmpdir(), 'vmig-'));
  const shared = join(scratch, 'shared');
  const cleanups: (() => Promise<void> | void)[] = [() => rm(scratch, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        // Best effort: the rest must still be removed.
      }
    }
  };
  try {
    await run('ip', ['netns', 'add', netns]);
    cleanups.push(() => run('ip', ['netns', 'del', netns]).then(() => undefined));
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', netns, 'addr', 'add', '10.199.0.1/32', 'dev', 'lo']);
    await run('ip', ['-n', netns, 'addr', 'add', '10.199.0.2/32', 'dev', 'lo']);
    const pki = await ensureDevPki(scratch, { altNames: ['10.199.0.1', '10.199.0.2'] });
    const tls: TlsFiles = { key: await readFile(pki.client.keyFile), cert: await readFile(pki.client.certFile), ca: await readFile(pki.client.caFile) };
    // mkdtemp makes the scratch directory 0700: the daemons' user must be able to pass through it.
    await chmod(scratch, 0o711);
    await mkdir(shared, { mode: 0o755 });
    // QEMU runs as nobody on both hosts: its console logs and initramfs variants live here.
    const nobody = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => l.split(':')).find((f) => f[0] === 'nobody');
    if (nobody !== undefined) await chown(shared, Number(nobody[2]), Number(nobody[3]));
    const started: { host: MigrationHost; relay: Relay }[] = [];
    for (const [name, address] of [['a', '10.199.0.1'], ['b', '10.199.0.2']] as const) {
      const h = await startHost({ name, netns, address, pkiDir: pki.dir, tls, scratch, agentArgs: opts.agentArgs ?? [] });
      started.push(h);
      cleanups.push(async () => {
        h.host.engine.close();
        h.relay.close();
        await h.host.agent.cleanup();
        await h.host.lv.stop();
      });
    }
    return { netns, a: started[0]!.host, b: started[1]!.host, shared, tls, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Pids of the QEMU processes of a domain name under a session daemon's run directory. */
export async function qemuPids(lv: SessionLibvirtd, name: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await pidsUsingDir(lv.runDir)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
    if (cmdline.includes(`guest=${name},`)) pids.push(pid);
  }
  return pids;
}
