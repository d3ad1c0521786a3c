// The suites vdsm-bench knows. To add one: write bench/<name>.ts following docs/bench.md (accepts
// --quick and --out=DIR, prints one JSON line per case with `suite` and `case`, writes report.md and
// any *.svg into DIR), then add ONE line below. Order is the order `vdsm-bench` runs them in.

export interface SuiteSpec {
  /** Name on the command line and in the report; the script is dist/bench/<name>.js. */
  readonly name: string;
  /** One line for --list and the report. */
  readonly summary: string;
  /** It can measure a running agent (vdsm-bench -a HOST -p PORT); otherwise it runs only locally. */
  readonly remote?: boolean;
  /** About how long --quick takes on a quiet 2-core machine, in seconds (weights the progress bar). */
  readonly quickSeconds?: number;
  /** A numeric field of its case lines drawn as a bar per case in the report (when the suite draws none). */
  readonly headline?: string;
  /** Runs only when named on the command line (not in a run of every suite), for this reason. */
  readonly onlyWhenNamed?: string;
}

const suite = (name: string, summary: string, extra: Omit<SuiteSpec, 'name' | 'summary'> = {}): SuiteSpec => ({ name, summary, ...extra });

export const SUITES: readonly SuiteSpec[] = [
  suite('executor-stuck', 'Executor (stuck in offloaded and in synchronous native calls) vs plain Piscina; Scheduler lateness', { quickSeconds: 32, headline: 'fast_p99_ms' }),
  suite('rpc', 'JSON-RPC over STOMP, plain and TLS: Host.ping2, Host.getStats, Host.getAllVmStats over N VMs', { remote: true, quickSeconds: 15, headline: 'req_per_s' }),
  suite('sampling', 'VM bulk-stats sampling cycle cost and Host.getAllVmStats through the real agent, beside a floor server with the same reply bytes', { quickSeconds: 15, headline: 'getallvmstats_p50_ms' }),
  suite('libvirt', 'libvirt bulk statistics from a worker vs the main thread, in-process and via libvirtd', { quickSeconds: 15, headline: 'callMsP50' }),
  suite('first-request', 'First request on a fresh connection from a Nagle client, with and without TCP_QUICKACK', { quickSeconds: 5, headline: 'p50_ms' }),
  suite('observability', 'What metrics reporters, the health monitor and CPU profiling of every thread cost Host.ping2 and Host.getAllVmStats, as ratios to metrics off', { quickSeconds: 30, headline: 'ping_ratio' }),
  suite('supervdsm', 'The privileged helper\'s RPC: ping and a hardware-info call, real helper and client vs bare msgpack, JSON lines, the socket floor', { quickSeconds: 4, headline: 'req_per_s' }),
  suite('storage', 'Storage tasks per second (in memory, persisted), Volume.create and a Volume.copy against qemu-img through vdsmd, a hung domain turning invalid', { quickSeconds: 30, headline: 'tasks_per_s' }),
  suite('migration', 'Live migration between two agents (two session libvirtds in a network namespace, the real TCG guest): time to destination Up and source Down, downtime, cancel, getAllVmStats and loop delay on both agents, the virsh floor', { quickSeconds: 90, headline: 'dst_up_s', onlyWhenNamed: 'needs root, the real-VM tier (scripts/realvm/setup.sh) and a checkout; about 1.5 minutes with --quick' }),
  suite('network', 'One setupNetworks adding 1, 10, 100 VLAN networks on a bond and its rollback, in a network namespace, vs one ip per command and the ip -batch floor (root)', { quickSeconds: 4, headline: 'setup_ms' }),
];
