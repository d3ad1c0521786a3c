// The privileged primitives the applier uses: run `ip` (one `ip -batch` process for a run of steps),
// write the two IPv6 sysctls, start and stop a DHCP client, write resolv.conf, and read a snapshot.
// LocalNetSystem does them in this process (root, or a test); the supervdsm helper provides the same
// interface with its own command table. Programs get argument vectors, never a shell.
import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSnapshot, SNAPSHOT_COMMANDS } from './kernel-state.js';
import type { DevSysctl, KernelSnapshot, NetworkRawFacts } from './types.js';

export interface BatchResult {
  ok: boolean;
  /** 1-based line of the first failing command (without -force). */
  failedLine?: number;
  stderr: string;
}

export interface NetSystem {
  snapshot(): Promise<KernelSnapshot>;
  /** Run these `ip` commands in one process; with `force`, go on past failures. */
  ipBatch(commands: readonly (readonly string[])[], force: boolean): Promise<BatchResult>;
  sysctl(dev: string, key: 'autoconf' | 'accept_ra', value: string): Promise<void>;
  dhcpStart(dev: string, family: 4 | 6, opts: { defaultRoute: boolean; blocking: boolean }): Promise<void>;
  dhcpStop(dev: string, family: 4 | 6): Promise<void>;
  writeResolv(nameservers: readonly string[]): Promise<void>;
}

const CLEAN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

/** The dhclient hook shipped with vdsm-node (applies leases with ip; never touches resolv.conf). */
export const DHCLIENT_SCRIPT = fileURLToPath(new URL('../../../packaging/libexec/vdsm-dhclient-script', import.meta.url));

/** ip device names we pass on: what the kernel allows, and nothing a shell or ip would read as a flag. */
export function assertDeviceName(dev: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/.test(dev)) throw new Error(`invalid device name ${JSON.stringify(dev)}`);
}

function run(file: string, args: readonly string[], input?: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env: CLEAN_ENV, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr: stderr || (err !== null && code === 1 && stderr === '' ? String(err.message) : '') });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A batch line: ip's batch parser splits on blanks and honours double quotes. */
function batchLine(args: readonly string[]): string {
  return args.map((a) => (/^[\w.:/@,+-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, '\\$&')}"`)).join(' ');
}

export interface LocalNetSystemOptions {
  /** Directory for DHCP client pid and lease files. */
  dhcpDir: string;
  resolvConf: string;
  ipPath?: string;
  dhclientPath?: string;
  procRoot?: string;
}

export class LocalNetSystem implements NetSystem {
  #o: Required<Omit<LocalNetSystemOptions, 'procRoot'>> & { procRoot: string };

  constructor(opts: LocalNetSystemOptions) {
    this.#o = { ipPath: '/usr/sbin/ip', dhclientPath: '/usr/sbin/dhclient', procRoot: '/', ...opts };
  }

  async rawFacts(): Promise<NetworkRawFacts> {
    const out: Record<string, string> = {};
    await Promise.all(Object.entries(SNAPSHOT_COMMANDS).map(async ([key, args]) => {
      const r = await run(this.#o.ipPath, args);
      if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
      out[key] = r.stdout;
    }));
    const names = (JSON.parse(out['links']!.trim() || '[]') as { ifname: string }[]).map((l) => l.ifname);
    const sysctl: Record<string, DevSysctl> = {};
    const speeds: Record<string, string | null> = {};
    await Promise.all(names.map(async (dev) => {
      const conf = join(this.#o.procRoot, 'proc/sys/net/ipv6/conf', dev);
      const [autoconf, acceptRa, disableIpv6, speed] = await Promise.all([
        readText(join(conf, 'autoconf')), readText(join(conf, 'accept_ra')), readText(join(conf, 'disable_ipv6')),
        readText(join(this.#o.procRoot, 'sys/class/net', dev, 'speed')),
      ]);
      sysctl[dev] = {
        ...(autoconf !== null ? { autoconf } : {}), ...(acceptRa !== null ? { acceptRa } : {}), ...(disableIpv6 !== null ? { disableIpv6 } : {}),
      };
      speeds[dev] = speed;
    }));
    return { links: out['links']!, addrs: out['addrs']!, routes4: out['routes4']!, routes6: out['routes6']!, sysctl, speeds, dhcp: await this.#dhcpClients() };
  }

  async snapshot(): Promise<KernelSnapshot> {
    return parseSnapshot(await this.rawFacts());
  }

  async ipBatch(commands: readonly (readonly string[])[], force: boolean): Promise<BatchResult> {
    if (commands.length === 0) return { ok: true, stderr: '' };
    const input = `${commands.map(batchLine).join('\n')}\n`;
    const r = await run(this.#o.ipPath, [...(force ? ['-force'] : []), '-batch', '-'], input);
    if (r.code === 0) return { ok: true, stderr: r.stderr };
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    return { ok: false, ...(m !== null ? { failedLine: Number(m[1]) } : {}), stderr: r.stderr.trim() };
  }

  async sysctl(dev: string, key: 'autoconf' | 'accept_ra', value: string): Promise<void> {
    assertDeviceName(dev);
    await writeFile(join(this.#o.procRoot, 'proc/sys/net/ipv6/conf', dev, key), value);
  }

  #pidFile(dev: string, family: 4 | 6): string {
    return join(this.#o.dhcpDir, `dhclient${family === 6 ? '6' : ''}-${dev}.pid`);
  }

  async dhcpStart(dev: string, family: 4 | 6, opts: { defaultRoute: boolean; blocking: boolean }): Promise<void> {
    assertDeviceName(dev);
    await mkdir(this.#o.dhcpDir, { recursive: true });
    await this.dhcpStop(dev, family);
    const args = [
      `-${family}`, ...(opts.blocking ? ['-1'] : ['-nw']),
      '-pf', this.#pidFile(dev, family), '-lf', join(this.#o.dhcpDir, `dhclient${family === 6 ? '6' : ''}-${dev}.lease`),
      '-sf', DHCLIENT_SCRIPT, '-e', `VDSM_DEFAULT_ROUTE=${opts.defaultRoute ? 'yes' : 'no'}`, dev,
    ];
    const r = await run(this.#o.dhclientPath, args, undefined, opts.blocking ? 120_000 : 30_000);
    if (r.code !== 0) throw new Error(`dhclient ${args.join(' ')} failed (${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }

  async dhcpStop(dev: string, family: 4 | 6): Promise<void> {
    const pidFile = this.#pidFile(dev, family);
    const pid = Number((await readText(pidFile)) ?? '');
    if (Number.isInteger(pid) && pid > 1 && (await isDhclient(pid, dev, this.#o.procRoot))) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await waitGone(pid);
    }
    await rm(pidFile, { force: true });
  }

  async #dhcpClients(): Promise<Record<string, { v4: boolean; v6: boolean }>> {
    const out: Record<string, { v4: boolean; v6: boolean }> = {};
    let files: string[];
    try {
      files = await readdir(this.#o.dhcpDir);
    } catch {
      return out;
    }
    for (const f of files) {
      const m = /^dhclient(6?)-(.+)\.pid$/.exec(f);
      if (m === null) continue;
      const pid = Number((await readText(join(this.#o.dhcpDir, f))) ?? '');
      if (!Number.isInteger(pid) || !(await isDhclient(pid, m[2]!, this.#o.procRoot))) continue;
      const e = out[m[2]!] ?? (out[m[2]!] = { v4: false, v6: false });
      if (m[1] === '6') e.v6 = true;
      else e.v4 = true;
    }
    return out;
  }

  async writeResolv(nameservers: readonly string[]): Promise<void> {
    const text = `# Generated by vdsm-node for the default route network\n${nameservers.map((n) => `nameserver ${n}`).join('\n')}\n`;
    await writeFile(this.#o.resolvConf, text);
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return null;
  }
}

async function isDhclient(pid: number, dev: string, procRoot: string): Promise<boolean> {
  const cmdline = await readText(join(procRoot, 'proc', String(pid), 'cmdline'));
  if (cmdline === null) return false;
  const argv = cmdline.split('\0');
  return argv.some((a) => a.endsWith('dhclient')) && argv.includes(dev);
}

/** Wait until `pid` has exited (dhclient removes its address on SIGTERM only through its script). */
function waitGone(pid: number, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const probe = (): void => {
      try {
        process.kill(pid, 0);
      } catch {
        resolve();
        return;
      }
      if (Date.now() - started > timeoutMs) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        resolve();
        return;
      }
      // A process exit is not an event we can wait on for a non-child: poll its pid briefly.
      setTimeout(probe, 20);
    };
    probe();
  });
}
