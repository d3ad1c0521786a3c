// `vdsm-tool supervdsm`: is the privileged helper up, and what is it doing? Connects to its socket (as
// root or the vdsm user, the only peers it accepts) and prints its status: pid, uptime, who is
// connected, calls served and failed by code, calls in flight, worker threads and child processes.
import { join } from 'node:path';
import pino from 'pino';
import { CONFIG_OPTIONS_HELP, configArgOptions, loadOptionsFromArgs, type ConfigArgValues } from '../config/cli-options.js';
import { loadConfig } from '../config/load-config.js';
import { EXIT_OK, EXIT_USAGE, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';
import { SupervdsmClient } from '../supervdsm/client.js';
import { errorMessage } from '../errors.js';

/** Exit codes beyond the common ones: 3 the helper is not reachable, 4 it refused this user. */
export const EXIT_DOWN = 3;
export const EXIT_REFUSED = 4;

interface Status {
  pid: number;
  socket: string;
  uptimeS: number;
  protocol: number;
  allowedUids: number[];
  connections: { id: number; peer: { pid: number; uid: number }; calls: { id: number; method: string; runningMs: number }[] }[];
  inFlight: number;
  stats: { accepted: number; refused: number; calls: number; failed: number; byCode: Record<string, number> };
  processes: { running: number; waiting: number; spawned: number; killed: number; commands: Record<string, string> };
  executor?: { live?: number; lingering?: number; queued?: number; running?: number };
  functions: string[];
}

/** The readable report. */
export function renderStatus(st: Status): string {
  const failed = Object.entries(st.stats.byCode).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  const running = st.connections.flatMap((c) => c.calls.map((call) => `    ${call.method} (call ${call.id} from pid ${c.peer.pid}, ${call.runningMs} ms)`));
  const ex = st.executor ?? {};
  return [
    `supervdsmd pid ${st.pid}, up ${st.uptimeS} s, protocol ${st.protocol}, socket ${st.socket}`,
    `accepts uids ${st.allowedUids.join(', ')}; refused ${st.stats.refused} connection(s) from others`,
    `connections: ${st.connections.length}${st.connections.length ? ` (${st.connections.map((c) => `pid ${c.peer.pid} uid ${c.peer.uid}`).join('; ')})` : ''}`,
    `calls: ${st.stats.calls} answered, ${st.stats.failed} failed${failed ? ` (${failed})` : ''}; ${st.inFlight} in flight`,
    ...running,
    `worker threads: ${ex.live ?? '?'} live, ${ex.lingering ?? 0} lingering; child processes: ${st.processes.running} running, ${st.processes.spawned} started, ${st.processes.killed} killed at their deadline`,
    `functions: ${st.functions.join(', ')}`,
    '',
  ].join('\n');
}

export const supervdsmVerb: ToolVerb = {
  name: 'supervdsm',
  summary: 'status of supervdsmd, the privileged helper: up?, calls, failures, processes',
  help: `Usage: vdsm-tool supervdsm [--config FILE] [--set SECTION.KEY=VALUE]... [--profile NAME] [--socket PATH] [--json]

Connects to supervdsmd's socket (<run_dir>/svdsm.sock from the configuration, as vdsmd does) and prints
its status. supervdsmd accepts root and [supervdsm] user only: run this as one of them.

  --socket PATH   the socket to ask instead of <run_dir>/svdsm.sock
  --json          the status as JSON

Exit status: 0 up, 3 not reachable (not running, or no such socket), 4 refused (wrong user).

${CONFIG_OPTIONS_HELP}`,
  options: { ...configArgOptions, socket: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, io: ToolIO): Promise<number> {
    let path = values['socket'] as string | undefined;
    if (path === undefined) {
      try {
        const { config } = await loadConfig(loadOptionsFromArgs(values as ConfigArgValues));
        path = join(config.vars.run_dir, 'svdsm.sock');
      } catch (err) {
        io.stderr(`vdsm-tool supervdsm: ${errorMessage(err)}\n`);
        return EXIT_USAGE;
      }
    }
    const client = new SupervdsmClient({ path, log: pino({ level: 'silent' }), defaultTimeoutMs: 10_000, backoffMs: { initial: 100, max: 500 } });
    client.start();
    try {
      await client.whenConnected(3000);
    } catch {
      const why = String(client.health()['lastError'] ?? 'no answer');
      await client.close();
      const refused = /EACCES|ERR_SVDSM_PEER_REFUSED/.test(why);
      io.stderr(`vdsm-tool supervdsm: supervdsmd is not reachable at ${path}: ${why}\n${refused
        ? 'It accepts root and [supervdsm] user only; run this as one of them.\n'
        : 'Is it running? systemctl status supervdsmd (or start it: systemctl start supervdsmd).\n'}`);
      return refused ? EXIT_REFUSED : EXIT_DOWN;
    }
    try {
      const st = await client.call<Status>('status');
      io.stdout(values['json'] === true ? `${JSON.stringify(st, null, 2)}\n` : renderStatus(st));
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
};
