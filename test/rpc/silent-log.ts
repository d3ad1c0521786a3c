// Loggers for tests: silent by default, or capturing lines to assert on.
import { Writable } from 'node:stream';
import { createRootLogger, LogManager, type Logger } from '../../src/observability/logging.js';

export function silentLogger(): Logger {
  // A no-op destination: pino's default opens a SonicBoom on stdout per logger, which property tests
  // creating hundreds of thousands of sessions turn into multi-second GC pauses.
  return createRootLogger({ level: 'silent', destination: { write: () => {} } });
}

export function silentLogManager(): LogManager {
  return new LogManager(silentLogger());
}

/** A LogManager whose lines (parsed JSON) are collected in `lines`. */
export function capturingLogManager(level = 'info'): { logManager: LogManager; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logManager: new LogManager(createRootLogger({ level, destination, journald: false })), lines };
}
