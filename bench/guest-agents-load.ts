// Load generator for bench/guest-agents.ts: N fake ovirt-guest-agents, each a unix socket listening as
// QEMU's end of a virtio-serial channel does, with the guest behind it. Kinds, by VM index modulo 10:
//   0-5 normal   full info on connect (host-name, OS, 4 NICs, 2,000 applications, 5 disks), a heartbeat
//                every 5 s, the info again every 60 s
//   6   large    as normal, plus every 30 s a changed list of 10,000 applications and 500 interfaces (~0.5 MB;
//                the oVirt agent itself looks at its applications every 120 s)
//   7   silent   connects, never says anything
//   8   flood    valid messages (heartbeats and application lists) as fast as the host reads them
//   9   garbage  1 MiB lines of garbage, lines that are not JSON and invalid UTF-8, as fast as the host reads
// A heartbeat carries its send time (wall ms) in memory-stat.mem_unused, so the bench measures how old the
// data the main thread shows is. Prints `{"ready":N}` once every socket listens; runs until killed.
import { mkdirSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';

export type AgentKind = 'normal' | 'large' | 'silent' | 'flood' | 'garbage';

export function agentKind(i: number): AgentKind {
  const k = i % 10;
  return k <= 5 ? 'normal' : k === 6 ? 'large' : k === 7 ? 'silent' : k === 8 ? 'flood' : 'garbage';
}

export function socketPath(dir: string, i: number): string {
  return join(dir, `c${i}.sock`);
}

const line = (o: Record<string, unknown>): string => `${JSON.stringify(o)}\n`;

function apps(n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) => `application-number-${i}-${tag}.x86_64`);
}

function ifaces(n: number, tag: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ name: `eth${i}`, hw: `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, inet: [`10.${tag % 250}.${i >> 8}.${i & 255}`], inet6: [`fe80::${i.toString(16)}`] }));
}

function info(i: number): string {
  return [
    line({ __name__: 'host-name', name: `vm-${i}.example.org` }),
    line({ __name__: 'os-version', version: '6.8.5-301.fc40.x86_64' }),
    line({ __name__: 'os-info', type: 'linux', arch: 'x86_64', kernel: '6.8.5-301.fc40.x86_64', distribution: 'Fedora Linux', version: '40', codename: '' }),
    line({ __name__: 'network-interfaces', interfaces: ifaces(4, i) }),
    line({ __name__: 'applications', applications: apps(2000, 'base') }),
    line({ __name__: 'disks-usage', disks: Array.from({ length: 5 }, (_, d) => ({ path: `/mnt/d${d}`, fs: 'xfs', total: 107374182400, used: 1073741824 * d })), mapping: {} }),
  ].join('');
}

function heartbeat(): string {
  return line({ __name__: 'heartbeat', 'free-ram': 1024, 'memory-stat': { mem_total: 4194304, mem_unused: Date.now(), mem_buffers: 1, mem_cached: 2 }, apiVersion: 3 });
}

/** Write as fast as the reader takes it (the host's read budget decides the pace). */
function pump(sock: Socket, next: () => string | Buffer): void {
  const go = (): void => {
    while (!sock.destroyed) {
      if (!sock.write(next())) {
        sock.once('drain', go);
        return;
      }
    }
  };
  go();
}

function serve(sock: Socket, i: number): void {
  sock.on('error', () => undefined);
  sock.on('data', () => undefined); // refresh, api-version: read and dropped
  const kind = agentKind(i);
  const timers: NodeJS.Timeout[] = [];
  sock.on('close', () => timers.forEach((t) => clearInterval(t)));
  if (kind === 'silent') return;
  if (kind === 'flood') {
    let n = 0;
    const big = line({ __name__: 'applications', applications: apps(2000, 'flood') });
    pump(sock, () => (++n % 10 === 0 ? big : heartbeat()));
    return;
  }
  if (kind === 'garbage') {
    const junk = Buffer.alloc(1024 * 1024, 0x7e);
    const bad = Buffer.concat([Buffer.from('not json at all\n{"__name__":"heartbeat","free-ram":'), Buffer.from([0xff, 0xfe, 0x0a])]);
    let n = 0;
    pump(sock, () => (++n % 2 === 0 ? Buffer.concat([junk, Buffer.from('\n')]) : bad));
    return;
  }
  const phase = (i * 37) % 5000;
  timers.push(setTimeout(() => {
    sock.write(info(i) + heartbeat());
    timers.push(setInterval(() => sock.write(heartbeat()), 5000));
    timers.push(setInterval(() => sock.write(info(i)), 60_000));
    if (kind === 'large') {
      let round = 0;
      timers.push(setInterval(() => {
        round++;
        sock.write(line({ __name__: 'applications', applications: apps(10_000, `r${round}`) }) + line({ __name__: 'network-interfaces', interfaces: ifaces(500, round) }));
      }, 30_000));
    }
  }, phase) as unknown as NodeJS.Timeout);
}

export async function runAgents(dir: string, n: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolve, reject) => {
    const server = createServer((s) => serve(s, i));
    server.once('error', reject);
    server.listen(socketPath(dir, i), () => resolve());
  })));
  process.stdout.write(`${JSON.stringify({ ready: n })}\n`);
}
