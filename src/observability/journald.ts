// pino options for lines written to journald through stdout: the sd-daemon "<N>" priority prefix
// (journald's SyslogLevelPrefix), and no time or pid, which the journal records itself. No pino import,
// so Executor workers can use it without loading pino before their first log line.

/** pino level number -> syslog priority. */
const PRIORITY: Readonly<Record<number, number>> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/** True when systemd connected stdout/stderr to the journal. */
export function underJournald(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env['JOURNAL_STREAM']);
}

/** Options to spread into pino's: no timestamp and a priority prefix on every line. */
export function journaldPinoOptions(): { timestamp: false; hooks: { streamWrite: (s: string) => string } } {
  return {
    timestamp: false,
    hooks: {
      streamWrite: (s: string) => {
        const m = /"level":(\d+)/.exec(s);
        return `<${PRIORITY[Number(m?.[1])] ?? 6}>${s}`;
      },
    },
  };
}
