// An unprivileged libvirtd (user nobody, via setpriv) serving the test driver over a unix socket in a
// temp dir, so other connections see a real remote libvirt: the daemon can be killed, restarted,
// frozen (SIGSTOP) and thawed. Needs root (to switch user) and the libvirt-daemon package.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateNodeXml, type NodeXmlOptions } from '../../../src/libvirt/fixture.js';

const NOBODY = 65534;
const LIBVIRTD = '/usr/sbin/libvirtd';
const SETPRIV = '/usr/bin/setpriv';
const SASLPASSWD2 = '/usr/sbin/saslpasswd2';

/** SASL login the daemon demands (SCRAM-SHA-256 over a private sasldb, like vdsm's libvirt setup). */
export interface SaslLogin {
  user: string;
  password: string;
}

/** Why the daemon cannot run here, or undefined when it can. */
export function libvirtdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to run libvirtd as nobody';
  if (!existsSync(LIBVIRTD)) return `${LIBVIRTD} missing (apt-get install libvirt-daemon)`;
  if (!existsSync(SETPRIV)) return `${SETPRIV} missing`;
  return undefined;
}

/** Why a SASL-protected daemon cannot run here, or undefined when it can. */
export function saslUnavailable(): string | undefined {
  return libvirtdUnavailable() ?? (existsSync(SASLPASSWD2) ? undefined : `${SASLPASSWD2} missing (apt-get install sasl2-bin)`);
}

export class TestLibvirtd {
  readonly dir: string;
  readonly socket: string;
  readonly nodeXml: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #starts = 0;
  #sasl = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = join(dir, 'run', 'libvirt-sock');
    this.nodeXml = join(dir, 'node.xml');
  }

  /**
   * `sasl`: a private sasldb with one login. `saslFiles`: an existing SASL application config and sasldb
   * (e.g. what vdsm-tool configure wrote under a temp root), copied in with sasldb_path pointed at the copy.
   */
  static async create(fixture: NodeXmlOptions, opts: { sasl?: SaslLogin; saslFiles?: { conf: string; db: string } } = {}): Promise<TestLibvirtd> {
    const d = new TestLibvirtd(await mkdtemp(join(tmpdir(), 'vdsm-libvirtd-')));
    for (const sub of ['run', 'home', 'home/xdg', 'sasl']) await mkdir(join(d.dir, sub), { recursive: true });
    const auth = opts.sasl || opts.saslFiles ? 'sasl' : 'none';
    if (opts.saslFiles) {
      d.#sasl = true;
      const conf = (await readFile(opts.saslFiles.conf, 'utf8')).replace(/^sasldb_path:.*$/m, `sasldb_path: ${d.dir}/sasl/passwd.db`);
      await writeFile(join(d.dir, 'sasl', 'libvirt.conf'), conf);
      await copyFile(opts.saslFiles.db, join(d.dir, 'sasl', 'passwd.db'));
    } else if (opts.sasl) {
      d.#sasl = true;
      // Cyrus SASL reads <SASL_CONF_PATH>/libvirt.conf; the password database is private to this dir.
      await writeFile(join(d.dir, 'sasl', 'libvirt.conf'), `mech_list: scram-sha-256\nsasldb_path: ${d.dir}/sasl/passwd.db\n`);
      await saslpasswd(join(d.dir, 'sasl', 'passwd.db'), opts.sasl);
    }
    await writeFile(join(d.dir, 'libvirtd.conf'), [
      `unix_sock_dir = "${d.dir}/run"`, 'unix_sock_rw_perms = "0770"', `auth_unix_ro = "${auth}"`, `auth_unix_rw = "${auth}"`,
      'listen_tls = 0', 'listen_tcp = 0', `log_outputs = "3:file:${d.dir}/libvirtd.log"`, '',
    ].join('\n'));
    await writeFile(d.nodeXml, generateNodeXml(fixture));
    for (const p of [d.dir, join(d.dir, 'run'), join(d.dir, 'home'), join(d.dir, 'home/xdg'), join(d.dir, 'sasl')]) {
      await chown(p, NOBODY, NOBODY);
      await chmod(p, 0o755);
    }
    if (opts.sasl || opts.saslFiles) await chown(join(d.dir, 'sasl', 'passwd.db'), NOBODY, NOBODY);
    await chmod(d.nodeXml, 0o644);
    return d;
  }

  /** test+unix URI of the node XML (each connection gets its own private hypervisor instance). */
  get uri(): string {
    return `test+unix://${this.nodeXml}?socket=${this.socket}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Start the daemon and resolve once its socket accepts connections. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.#child) throw new Error('libvirtd already running');
    await unlink(this.socket).catch(() => undefined);  // a killed daemon leaves its socket behind
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: join(this.dir, 'home'), XDG_RUNTIME_DIR: join(this.dir, 'home/xdg') };
    if (this.#sasl) env['SASL_CONF_PATH'] = join(this.dir, 'sasl');
    const child = spawn(SETPRIV, ['--reuid=nobody', '--regid=nogroup', '--clear-groups', LIBVIRTD, '-f', join(this.dir, 'libvirtd.conf')], { env, stdio: 'ignore' });
    this.#child = child;
    this.#starts++;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.#exited.then(() => { if (this.#child === child) this.#child = undefined; });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.#child) throw new Error(`libvirtd exited during start; see ${this.dir}/libvirtd.log`);
      if (await accepts(this.socket)) return;  // the socket file appears before libvirtd listens on it
      if (Date.now() > deadline) throw new Error(`libvirtd socket did not appear within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));  // readiness polling, not waiting for time to pass
    }
  }

  /** Kill the daemon (SIGKILL by default) and wait until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child) return;
    if (signal !== 'SIGKILL') child.kill('SIGCONT');
    child.kill(signal);
    await this.#exited;
  }

  freeze(): void {
    this.#child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Kill the daemon if it runs and delete the temp dir. Safe to call more than once. */
  async cleanup(): Promise<void> {
    if (this.#child) {
      this.#child.kill('SIGCONT');
      await this.kill('SIGKILL');
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  toJSON(): { dir: string; pid: number | undefined; starts: number } {
    return { dir: this.dir, pid: this.pid, starts: this.#starts };
  }
}

/** Create a sasldb with one user for the 'libvirt' SASL application (vdsm: saslpasswd2 -p -a libvirt vdsm@ovirt). */
async function saslpasswd(db: string, login: SaslLogin): Promise<void> {
  const child = spawn(SASLPASSWD2, ['-p', '-f', db, '-a', 'libvirt', '-c', login.user], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  child.stdin.end(login.password);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`saslpasswd2 failed (${code}): ${stderr}`);
}

/** True when a unix socket accepts a connection (closed again at once). */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => { sock.destroy(); resolve(false); });
  });
}
