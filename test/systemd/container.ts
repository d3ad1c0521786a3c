// A Debian 12 machine booted with systemd-nspawn for the systemd tier: an overlay on the cached tree
// (scripts/nspawn/setup.sh) so every run starts from the same pristine system, vdsm-node installed into
// it with packaging/install.sh, its own network namespace (so its port 54321 collides with nothing),
// systemd 252 as PID 1. Commands run inside through nsenter into the container's namespaces.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SETUP = join(ROOT, 'scripts', 'nspawn', 'setup.sh');
const NSPAWN_RUN = '/run/systemd/nspawn';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, [...args], { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

async function isMountPoint(path: string): Promise<boolean> {
  return (await sh('mountpoint', ['-q', path])).code === 0;
}

/** The pid (in our namespace) of the systemd that is pid 1 below `ancestor`, or 0. */
async function containerInit(ancestor: number): Promise<number> {
  const ps = await sh('ps', ['-e', '-o', 'pid=,ppid=']);
  const parent = new Map(ps.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number]));
  for (const [pid] of parent) {
    let p = parent.get(pid);
    while (p !== undefined && p !== ancestor && p > 1) p = parent.get(p);
    if (p !== ancestor) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (nspid.length >= 2 && nspid[nspid.length - 1] === '1' && comm.trim() === 'systemd') return pid;
  }
  return 0;
}

export class Container {
  readonly name = `vdsm-${randomBytes(4).toString('hex')}`;
  readonly dir: string;
  readonly root: string;
  #nspawn: ChildProcess | undefined;
  #init = 0;
  #mountedNspawnRun = false;
  #log = '';

  private constructor(dir: string) {
    this.dir = dir;
    this.root = join(dir, 'merged');
  }

  /** An overlay on the cached tree with vdsm-node installed; not yet booted. */
  static async prepare(tree: string): Promise<Container> {
    const c = new Container(await mkdtemp(join(tmpdir(), 'vdsm-nspawn-')));
    for (const d of ['upper', 'work', 'merged']) await mkdir(join(c.dir, d));
    const mount = await sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${c.dir}/upper,workdir=${c.dir}/work`, c.root]);
    if (mount.code !== 0) throw new Error(`overlay mount failed: ${mount.stderr}`);
    // The node binary the units name (/usr/bin/node); the tree is the same Debian release.
    await copyFile(process.execPath, join(c.root, 'usr/bin/node'));
    const install = await sh('bash', [join(ROOT, 'packaging', 'install.sh'), c.root], { timeoutMs: 300_000 });
    if (install.code !== 0) throw new Error(`packaging/install.sh failed: ${install.stderr}`);
    return c;
  }

  /** Boot with systemd as PID 1 and wait until it reports the system running. */
  async boot(binds: readonly string[] = []): Promise<void> {
    // nspawn wants a tmpfs here to propagate mounts ("Attempted to remove disk file system under
    // /run/systemd/nspawn/propagate/…" otherwise, as /run is not a tmpfs on this machine).
    await mkdir(NSPAWN_RUN, { recursive: true });
    if (!(await isMountPoint(NSPAWN_RUN))) {
      const m = await sh('mount', ['-t', 'tmpfs', '-o', 'mode=755,size=16m', 'tmpfs', NSPAWN_RUN]);
      if (m.code !== 0) throw new Error(`mounting a tmpfs on ${NSPAWN_RUN} failed: ${m.stderr}`);
      this.#mountedNspawnRun = true;
    }
    const args = ['-D', this.root, '-b', '-M', this.name, '--register=no', '--keep-unit', '--console=pipe', '--private-network',
      ...binds.map((b) => `--bind=${b}`)];
    const child = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#nspawn = child;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { this.#log += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { this.#log += d; });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // The container's PID 1: a descendant of nspawn that is pid 1 in its own namespace and runs systemd.
    const deadline = Date.now() + 30_000;
    while (this.#init === 0) {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn exited with ${child.exitCode}:\n${this.#log}`);
      if (Date.now() > deadline) throw new Error(`no container init after 30 s:\n${this.#log}`);
      this.#init = await containerInit(child.pid!);
      if (this.#init === 0) await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
    }
    // Until PID 1 has opened its private bus socket, systemctl cannot reach it ("Failed to connect to bus"),
    // and before systemd runs as PID 1 at all it answers "offline" (seen on a heavily loaded machine).
    const notYet = (r: Run): boolean => /Failed to connect to bus/.test(r.stderr) || r.stdout.trim() === 'offline';
    let running = await this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: 60_000 });
    while (notYet(running) && Date.now() < deadline + 60_000) {
      await new Promise((r) => setTimeout(r, 100));
      running = await this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: 60_000 });
    }
    if (!/^(running|degraded)/.test(running.stdout.trim())) throw new Error(`the container did not come up: ${running.stdout}${running.stderr}\n${this.#log}`);
  }

  /** Run a command inside every namespace of the container. */
  exec(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
    // A clean environment: nothing of the host's (NODE_OPTIONS, CA bundles, ...) leaks in.
    return sh('nsenter', ['-t', String(this.#init), '-a', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'HOME=/root', ...argv], opts);
  }

  async systemctl(...args: string[]): Promise<Run> {
    return this.exec(['systemctl', ...args]);
  }

  /** `systemctl show` properties of a unit as an object. */
  async show(unit: string, props: readonly string[]): Promise<Record<string, string>> {
    const r = await this.exec(['systemctl', 'show', unit, ...props.map((p) => `--property=${p}`)]);
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return out;
  }

  /** Poll `show` until `pred` holds (the condition is systemd's own state, not elapsed time). */
  async until(unit: string, props: readonly string[], pred: (p: Record<string, string>) => boolean, timeoutMs = 60_000): Promise<Record<string, string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.show(unit, props);
      if (pred(p)) return p;
      if (Date.now() > deadline) throw new Error(`${unit}: condition not reached in ${timeoutMs} ms; last ${JSON.stringify(p)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async journal(unit: string): Promise<string> {
    return (await this.exec(['journalctl', '-u', unit, '--no-pager', '-o', 'cat'])).stdout;
  }

  async writeFile(path: string, text: string): Promise<void> {
    await mkdir(join(this.root, path, '..'), { recursive: true });
    await writeFile(join(this.root, path), text);
  }

  async readFile(path: string): Promise<string> {
    return readFile(join(this.root, path), 'utf8');
  }

  get bootLog(): string {
    return this.#log;
  }

  /** Power off (SIGTERM to nspawn halts the container), then remove the overlay. */
  async destroy(): Promise<void> {
    const child = this.#nspawn;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await sh('umount', [this.root]);
    await rm(this.dir, { recursive: true, force: true });
    if (this.#mountedNspawnRun) await sh('umount', [NSPAWN_RUN]);
  }
}
