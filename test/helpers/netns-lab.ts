// A network lab for the host-networking tests, made of network namespaces this test creates (never
// this machine's own interfaces): the host (where vdsmd runs), the engine (whose client reaches the
// host over a veth pair) and a DHCP server (Debian's dnsmasq). Names carry a random suffix, so other
// engineers' runs on the same machine never collide; cleanup kills what runs in the namespaces and
// deletes them. state() is the host namespace as `ip -json` shows it, normalised by this file alone
// (independent of src/network/), for before/after comparisons of a rollback.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ENGINE_PEER = fileURLToPath(new URL('../peers/netns-engine.js', import.meta.url));

export function run(file: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr });
    });
  });
}

async function must(file: string, args: readonly string[]): Promise<string> {
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why this machine cannot run the lab, or undefined when it can. */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth pairs, bridges)';
  for (const [tool, pkg] of [['/usr/sbin/ip', 'iproute2'], ['/usr/sbin/dnsmasq', 'dnsmasq-base'], ['/usr/sbin/dhclient', 'isc-dhcp-client']] as const) {
    if ((await run('test', ['-x', tool])).code !== 0) return `${tool} is missing (apt-get install ${pkg}; scripts/setup.sh installs it)`;
  }
  return undefined;
}

export interface DeviceState {
  master: string | null;
  mtu: number;
  up: boolean;
  kind: string;
  addrs: string[];
  defaultRoutes: string[];
}

export class NetnsLab {
  readonly host: string;
  readonly engine: string;
  readonly dhcp: string;
  readonly dir: string;
  #children: ChildProcess[] = [];

  private constructor(suffix: string, dir: string) {
    this.host = `vdsm-h-${suffix}`;
    this.engine = `vdsm-e-${suffix}`;
    this.dhcp = `vdsm-d-${suffix}`;
    this.dir = dir;
  }

  /**
   * host: veth_m0 192.0.2.10/24 (default route via the engine's 192.0.2.1), veth_d0 (towards the DHCP
   * server, no address), veth_x1 (a spare NIC towards the engine namespace). dhcp: 198.51.100.1/24.
   */
  static async create(): Promise<NetnsLab> {
    const lab = new NetnsLab(randomBytes(4).toString('hex'), await mkdtemp(join(tmpdir(), 'vdsm-netlab-')));
    try {
      for (const ns of [lab.host, lab.engine, lab.dhcp]) {
        await must('ip', ['netns', 'add', ns]);
        await lab.ip(ns, 'link', 'set', 'lo', 'up');
      }
      await must('ip', ['-n', lab.host, 'link', 'add', 'veth_m0', 'type', 'veth', 'peer', 'name', 'eng0', 'netns', lab.engine]);
      await must('ip', ['-n', lab.host, 'link', 'add', 'veth_x1', 'type', 'veth', 'peer', 'name', 'eng1', 'netns', lab.engine]);
      await must('ip', ['-n', lab.host, 'link', 'add', 'veth_d0', 'type', 'veth', 'peer', 'name', 'dhcp0', 'netns', lab.dhcp]);
      await lab.ip(lab.engine, 'addr', 'add', '192.0.2.1/24', 'dev', 'eng0');
      await lab.ip(lab.dhcp, 'addr', 'add', '198.51.100.1/24', 'dev', 'dhcp0');
      for (const [ns, dev] of [[lab.engine, 'eng0'], [lab.engine, 'eng1'], [lab.dhcp, 'dhcp0'], [lab.host, 'veth_m0'], [lab.host, 'veth_x1'], [lab.host, 'veth_d0']] as const) {
        await lab.ip(ns, 'link', 'set', dev, 'up');
      }
      await lab.ip(lab.host, 'addr', 'add', '192.0.2.10/24', 'dev', 'veth_m0');
      await lab.ip(lab.host, 'route', 'add', 'default', 'via', '192.0.2.1');
      return lab;
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
  }

  ip(ns: string, ...args: string[]): Promise<string> {
    return must('ip', ['-n', ns, ...args]);
  }

  async ipJson(ns: string, ...args: string[]): Promise<Record<string, unknown>[]> {
    const text = (await must('ip', ['-n', ns, '-json', ...args])).trim();
    return text === '' ? [] : (JSON.parse(text) as Record<string, unknown>[]);
  }

  /** Every device of the host namespace: master, MTU, UP flag, kind, global addresses, default routes. */
  async state(): Promise<Record<string, DeviceState>> {
    const links = await this.ipJson(this.host, '-details', 'link', 'show');
    const addrs = await this.ipJson(this.host, 'addr', 'show');
    const routes = [...await this.ipJson(this.host, '-4', 'route', 'show', 'default'), ...await this.ipJson(this.host, '-6', 'route', 'show', 'default')];
    const out: Record<string, DeviceState> = {};
    for (const l of links) {
      const name = String(l['ifname']);
      const a = addrs.find((x) => x['ifname'] === name);
      out[name] = {
        master: typeof l['master'] === 'string' ? l['master'] : null,
        mtu: Number(l['mtu']),
        up: (l['flags'] as string[]).includes('UP'),
        kind: String(((l['linkinfo'] ?? {}) as Record<string, unknown>)['info_kind'] ?? ''),
        addrs: ((a?.['addr_info'] ?? []) as Record<string, unknown>[]).filter((x) => x['scope'] !== 'link').map((x) => `${String(x['local'])}/${String(x['prefixlen'])}`).sort(),
        defaultRoutes: routes.filter((r) => r['dev'] === name).map((r) => `via ${String(r['gateway'] ?? '-')}`).sort(),
      };
    }
    return out;
  }

  /** dnsmasq serving 198.51.100.50-60 on the DHCP namespace's dhcp0, router 198.51.100.1. */
  async startDhcpServer(): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.dhcp, '/usr/sbin/dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0',
      '--interface=dhcp0', '--bind-interfaces', '--dhcp-range=198.51.100.50,198.51.100.60,255.255.255.0,1h', '--dhcp-option=option:router,198.51.100.1',
      `--dhcp-leasefile=${join(this.dir, 'dnsmasq.leases')}`, `--pid-file=${join(this.dir, 'dnsmasq.pid')}`, '--user=root', '--log-dhcp', '--log-facility=-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (c: string) => {
        err += c;
        if (/started, version/.test(err)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`dnsmasq exited with ${code}: ${err}`)));
    });
  }

  /** Processes running in a namespace (ip netns pids). */
  async pids(ns: string): Promise<number[]> {
    const r = await run('ip', ['netns', 'pids', ns]);
    return r.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
  }

  async cleanup(): Promise<void> {
    for (const c of this.#children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const ns of [this.host, this.engine, this.dhcp]) {
      // Only processes inside the namespaces this lab made: the agent, its dhclients, dnsmasq, the peer.
      for (const pid of await this.pids(ns)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      await run('ip', ['netns', 'del', ns]);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The engine's client, run inside the engine namespace (test/peers/netns-engine.ts). */
export class EngineInNetns {
  #child: ChildProcess;
  #next = 1;
  #pending = new Map<number, (msg: Record<string, unknown>) => void>();

  constructor(ns: string) {
    this.#child = spawn('ip', ['netns', 'exec', ns, process.execPath, ENGINE_PEER], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      const cb = this.#pending.get(Number(msg['id']));
      this.#pending.delete(Number(msg['id']));
      cb?.(msg);
    });
  }

  #send(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#child.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  async connect(conn: string, host: string, port: number): Promise<void> {
    const r = await this.#send({ op: 'connect', conn, host, port });
    if (r['ok'] !== true) throw new Error(`connect ${conn}: ${JSON.stringify(r['error'])}`);
  }

  /** {ok, result} or {ok: false, error: {code, message}}. */
  request(conn: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<{ ok: boolean; result?: unknown; error?: { code: unknown; message: unknown } }> {
    return this.#send({ op: 'call', conn, method, params, timeoutMs }) as Promise<{ ok: boolean; result?: unknown; error?: { code: unknown; message: unknown } }>;
  }

  async call<T = unknown>(conn: string, method: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
    const r = await this.request(conn, method, params, timeoutMs);
    if (!r.ok) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  close(conn: string): Promise<Record<string, unknown>> {
    return this.#send({ op: 'close', conn });
  }

  stop(): void {
    this.#child.stdin!.end();
    if (this.#child.exitCode === null) this.#child.kill('SIGTERM');
  }
}

/** Wait until `probe` returns a value (not undefined), asking again after each answer, up to `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms${last !== undefined ? ` (last error: ${(last as Error).message})` : ''}`);
    // The condition is another process's state (a DHCP lease): ask again on the next turn of the loop.
    await new Promise((r) => setTimeout(r, 100));
  }
}
