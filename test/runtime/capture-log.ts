// A pino logger whose lines land in an array, to assert on what the runtime logged.
import pino, { type Logger } from 'pino';

export interface LogLine { level: number; msg: string; [k: string]: unknown }

export function captureLog(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}
