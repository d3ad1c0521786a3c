// pino options for lines written to journald through stdout: the sd-daemon "<N>" priority prefix
// (journald's SyslogLevelPrefix), and no time or pid, which the journal records itself. No pino import,
// so it costs nothing before the first log line. Executor workers build the same options from the same
// constants (workers/executor-worker.ts).
import { JOURNALD_DEFAULT_PRIORITY, JOURNALD_PRIORITY, JOURNAL_STREAM_ENV } from '../contracts/log-format.js';

/** True when systemd connected stdout/stderr to the journal. */
export function underJournald(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[JOURNAL_STREAM_ENV]);
}

/** Options to spread into pino's: no timestamp and a priority prefix on every line. */
export function journaldPinoOptions(): { timestamp: false; hooks: { streamWrite: (s: string) => string } } {
  return {
    timestamp: false,
    hooks: {
      streamWrite: (s: string) => {
        const m = /"level":(\d+)/.exec(s);
        return `<${JOURNALD_PRIORITY[Number(m?.[1])] ?? JOURNALD_DEFAULT_PRIORITY}>${s}`;
      },
    },
  };
}
