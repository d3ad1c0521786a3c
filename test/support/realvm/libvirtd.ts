// An unprivileged libvirtd for tests: serves qemu:///session (real TCG guests) and the test driver on a
// unix socket in its own run directory, with no system-wide change. Same recipe as
// scripts/realvm/libvirtd-session.sh; libvirt-lab.md §1-2 explains why it runs as `nobody`.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chown, mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Errors, vdsmError, errorMessage } from '../../../src/errors.js';
import { waitFor } from './wait-for.js';

export interface SessionLibvirtdOptions {
  /** Run directory (created if missing, kept on stop). Default: a fresh /tmp/vr-XXXXXX, removed on stop. */
  readonly dir?: string;
  /** Daemon user and group when started as root (default nobody/nogroup); ignored when not root. */
  readonly user?: string;
  readonly group?: string;
  /** How long the socket may take to appear (default 15 s). */
  readonly readyTimeoutMs?: number;
  /** libvirtd binary (default: found on PATH by setpriv/env). */
  readonly libvirtd?: string;
  /** Run the daemon (and so its QEMUs) in this network namespace (/run/netns/<name>; needs root). */
  readonly netns?: string;
  /** host_uuid: a fixed host UUID (this machine has no DMI; libvirt refuses a migration between equal ones). */
  readonly hostUuid?: string;
  /** Also listen on TCP at this address (port 16509, no authentication): a migration peer URI. */
  readonly listenAddress?: string;
  /** qemu.conf migration_address: where incoming migrations listen (not a loopback address). */
  readonly migrationAddress?: string;
}

export type LibvirtDriver = 'qemu' | 'test';

export interface SessionLibvirtd {
  readonly runDir: string;
  readonly socketPath: string;
  /** uid/gid the daemon (and so QEMU) runs as: files it must open need to be readable by them. */
  readonly owner: { readonly uid: number; readonly gid: number };
  /** `qemu+unix:///session?socket=…`, `test+unix:///default?socket=…` or the test driver on a node XML. */
  uri(driver: LibvirtDriver, nodeXmlPath?: string): string;
  /** Give a file or directory to the daemon user (disk images, console logs). */
  chownForDaemon(path: string): Promise<void>;
  describe(): Record<string, unknown>;
  /**
   * SIGKILL libvirtd alone, as a crash would: its QEMUs keep running, and a daemon started again on the
   * same run directory (`startSessionLibvirtd({ dir: runDir })`) reconnects to them.
   */
  crash(): Promise<void>;
  /** The daemon's pid (nsenter and setpriv exec it: the same process), for signals in tests. */
  readonly pid: number | undefined;
  /** Stop libvirtd, then kill whatever still uses the run directory (session QEMUs, virtlogd). Idempotent. */
  stop(): Promise<void>;
}

// sun_path is 108 bytes; QEMU's sockets live two levels deeper than libvirt's, so keep headroom.
const MAX_SOCKET_PATH = 100;

interface Account {
  readonly uid: number;
  readonly gid: number;
}

async function lookupAccount(user: string, group: string): Promise<Account> {
  const [passwd, groups] = await Promise.all([readFile('/etc/passwd', 'utf8'), readFile('/etc/group', 'utf8')]);
  const pw = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === user);
  const gr = groups.split('\n').map((l) => l.split(':')).find((f) => f[0] === group);
  if (!pw || !gr) throw vdsmError(Errors.UNAVAILABLE, `session libvirtd: no account ${user}:${group}`);
  return { uid: Number(pw[2]), gid: Number(gr[2]) };
}

function libvirtdConf(runDir: string, o: SessionLibvirtdOptions): string {
  const tcp = o.listenAddress === undefined ? ['listen_tcp = 0'] : ['listen_tcp = 1', 'tcp_port = "16509"', `listen_addr = "${o.listenAddress}"`, 'auth_tcp = "none"'];
  return [
    `unix_sock_dir = "${runDir}/run"`,
    // The daemon is unprivileged and the directory private to the test: let any local client in.
    'unix_sock_rw_perms = "0777"',
    'unix_sock_ro_perms = "0777"',
    'auth_unix_ro = "none"',
    'auth_unix_rw = "none"',
    'listen_tls = 0',
    ...tcp,
    ...(o.hostUuid !== undefined ? [`host_uuid = "${o.hostUuid}"`] : []),
    `log_outputs = "3:file:${runDir}/libvirtd.log"`,
    '',
  ].join('\n');
}

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolvePromise(true);
    });
    sock.once('error', () => resolvePromise(false));
  });
}

/** Pids of processes whose environment or command line names `dir` (libvirtd, virtlogd, session QEMUs). */
export async function pidsUsingDir(dir: string): Promise<number[]> {
  const needle = `${dir}/`;
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const [environ, cmdline] = await Promise.all([
        readFile(`/proc/${pid}/environ`, 'latin1').catch(() => ''),
        readFile(`/proc/${pid}/cmdline`, 'latin1'),
      ]);
      if (environ.split('\0').some((kv) => kv.includes(`=${needle}`)) || cmdline.includes(needle)) found.push(pid);
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

class SessionLibvirtdProcess implements SessionLibvirtd {
  readonly runDir: string;
  readonly socketPath: string;
  readonly owner: Account;
  readonly #child: ChildProcess;
  readonly #removeDir: boolean;
  readonly #exited: Promise<void>;
  #exitCode: number | null | undefined;
  #stopping: Promise<void> | undefined;

  constructor(runDir: string, owner: Account, child: ChildProcess, removeDir: boolean) {
    this.runDir = runDir;
    this.socketPath = join(runDir, 'run', 'libvirt-sock');
    this.owner = owner;
    this.#child = child;
    this.#removeDir = removeDir;
    this.#exited = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal === null ? null : -1);
        res();
      });
      child.once('error', () => res());
    });
  }

  get exited(): Promise<void> {
    return this.#exited;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#exitCode === undefined;
  }

  uri(driver: LibvirtDriver, nodeXmlPath?: string): string {
    const q = `?socket=${this.socketPath}`;
    if (driver === 'qemu') return `qemu+unix:///session${q}`;
    if (nodeXmlPath === undefined) return `test+unix:///default${q}`;
    const abs = resolve(nodeXmlPath);
    return `test+unix://${abs}${q}`;
  }

  async chownForDaemon(path: string): Promise<void> {
    if (process.getuid?.() === 0) await chown(path, this.owner.uid, this.owner.gid);
  }

  describe(): Record<string, unknown> {
    return {
      runDir: this.runDir,
      socketPath: this.socketPath,
      pid: this.#child.pid,
      owner: this.owner,
      alive: this.alive,
      exitCode: this.#exitCode ?? null,
      stopping: this.#stopping !== undefined,
    };
  }

  async crash(): Promise<void> {
    if (this.alive) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.alive) {
      this.#child.kill('SIGTERM');
      const exited = await Promise.race([this.#exited.then(() => true), delay(5000, false)]);
      if (!exited) {
        this.#child.kill('SIGKILL');
        await this.#exited;
      }
    }
    // Session QEMUs are daemonized away from libvirtd and outlive it; so would virtlogd.
    for (let round = 0; round < 50; round++) {
      const left = await pidsUsingDir(this.runDir);
      if (left.length === 0) break;
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await delay(100);
    }
    if (this.#removeDir) await rm(this.runDir, { recursive: true, force: true });
  }
}

// VNC windows of 100 ports between 5900 and the Linux ephemeral range (32768 and up).
const VNC_WINDOW = 100;
const VNC_WINDOWS = Math.floor((32768 - 5900) / VNC_WINDOW);

/** A random window of VNC ports for one daemon (libvirt still skips ports that are taken). */
export function vncPortWindow(pick: (n: number) => number = randomInt): { min: number; max: number } {
  const min = 5900 + VNC_WINDOW * pick(VNC_WINDOWS);
  return { min, max: min + VNC_WINDOW - 1 };
}

/** Start an unprivileged libvirtd and resolve once its unix socket accepts connections. */
export async function startSessionLibvirtd(options: SessionLibvirtdOptions = {}): Promise<SessionLibvirtd> {
  const asRoot = process.getuid?.() === 0;
  const owner: Account = asRoot
    ? await lookupAccount(options.user ?? 'nobody', options.group ?? 'nogroup')
    : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const removeDir = options.dir === undefined;
  const runDir = options.dir === undefined ? await mkdtemp(join(tmpdir(), 'vr-')) : resolve(options.dir);
  // The deepest socket QEMU makes: cfg/libvirt/qemu/channel/target/domain-N-<20 chars>/org.qemu.guest_agent.0
  const deepest = join(runDir, 'cfg/libvirt/qemu/channel/target/domain-99-xxxxxxxxxxxxxxxxxxxx/ovirt-guest-agent.0');
  if (deepest.length > MAX_SOCKET_PATH + 30) {
    throw vdsmError(Errors.INVALID_PARAMETER, `session libvirtd: run directory path too long for unix sockets: ${runDir}`);
  }
  const dirs = ['', 'run', 'home', 'cfg', 'cfg/libvirt', 'rt', 'cache'].map((d) => join(runDir, d));
  for (const d of dirs) await mkdir(d, { recursive: true, mode: d.endsWith('/rt') ? 0o700 : 0o755 });
  const confPath = join(runDir, 'libvirtd.conf');
  await writeFile(confPath, libvirtdConf(runDir, options));
  // QEMU writes its stdout log itself, so no virtlogd daemon is left behind. Each daemon gets its own
  // window of VNC ports: two daemons at once (test files run in parallel) would otherwise both hand out
  // 5900 and one QEMU would fail with "Failed to find an available port".
  const vnc = vncPortWindow();
  await writeFile(
    join(runDir, 'cfg/libvirt/qemu.conf'),
    `stdio_handler = "file"\nremote_display_port_min = ${vnc.min}\nremote_display_port_max = ${vnc.max}\n`
      + (options.migrationAddress !== undefined ? `migration_address = "${options.migrationAddress}"\n` : ''),
  );
  if (asRoot) for (const p of [...dirs, confPath, join(runDir, 'cfg/libvirt/qemu.conf')]) await chown(p, owner.uid, owner.gid);

  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: join(runDir, 'home'),
    XDG_CONFIG_HOME: join(runDir, 'cfg'),
    XDG_RUNTIME_DIR: join(runDir, 'rt'),
    XDG_CACHE_HOME: join(runDir, 'cache'),
  };
  const daemon = options.libvirtd ?? 'libvirtd';
  const daemonArgs = [daemon, ...(options.listenAddress !== undefined ? ['--listen'] : []), '-f', confPath];
  const unprivileged = asRoot ? ['setpriv', `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', ...daemonArgs] : daemonArgs;
  // nsenter without a mount namespace (not `ip netns exec`): the daemon keeps seeing this filesystem.
  const argv = options.netns !== undefined ? ['nsenter', `--net=/run/netns/${options.netns}`, ...unprivileged] : unprivileged;
  const out = await open(join(runDir, 'libvirtd.out'), 'w');
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', out.fd, out.fd], detached: true });
  } finally {
    await out.close();
  }
  const handle = new SessionLibvirtdProcess(runDir, owner, child, removeDir);
  try {
    await waitFor(
      async () => {
        if (!handle.alive) throw vdsmError(Errors.UNAVAILABLE, 'libvirtd exited');
        return socketAccepts(handle.socketPath);
      },
      { timeoutMs: options.readyTimeoutMs ?? 15000, intervalMs: 50, what: `libvirtd socket ${handle.socketPath}` },
    );
  } catch (err) {
    const log = await readFile(join(runDir, 'libvirtd.out'), 'utf8').catch(() => '');
    await handle.stop();
    throw vdsmError(Errors.UNAVAILABLE, `session libvirtd did not start: ${errorMessage(err)}\n${log}`, { cause: err });
  }
  return handle;
}
