// Logging with pino: JSON lines by default; journald-friendly (<N> priority prefix, no time/pid) when
// JOURNAL_STREAM is set; named loggers whose levels can change at run time (Host.setLogLevel).
import pino, { type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import { journaldPinoOptions, underJournald } from './journald.js';

export type { Logger } from 'pino';


/** vdsm's level names (Host.setLogLevel) mapped to pino's. */
const VDSM_LEVELS: Record<string, LevelWithSilent> = {
  CRITICAL: 'fatal', CRIT: 'fatal', ERROR: 'error', WARNING: 'warn', WARN: 'warn', INFO: 'info', DEBUG: 'debug',
};

export function toPinoLevel(level: string): LevelWithSilent | undefined {
  const upper = level.toUpperCase();
  if (upper in VDSM_LEVELS) return VDSM_LEVELS[upper];
  const lower = level.toLowerCase();
  return ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(lower) ? (lower as LevelWithSilent) : undefined;
}

export interface LoggingOptions {
  level?: string;
  /** Defaults to process.env.JOURNAL_STREAM being set. */
  journald?: boolean;
  /** Where lines go; stdout by default. Tests pass a stream to capture lines. */
  destination?: DestinationStream;
  /** Fields bound to every line (e.g. { workerId, taskId } in workers). */
  base?: Record<string, unknown>;
}

export function createRootLogger(opts: LoggingOptions = {}): Logger {
  const journald = opts.journald ?? underJournald();
  const level = toPinoLevel(opts.level ?? 'info') ?? 'info';
  const options: pino.LoggerOptions = journald
    ? { level, base: opts.base ?? null, ...journaldPinoOptions() }
    : { level, ...(opts.base ? { base: { pid: process.pid, ...opts.base } } : {}) };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/**
 * Named loggers ("Executor", "virt.vm", "rpc.stomp"), each a pino child with its own level. A level
 * set on a name applies to it and to every name below it ("virt" covers "virt.vm") unless a more
 * specific level was set; '' is the root.
 */
export class LogManager {
  readonly root: Logger;
  #loggers = new Map<string, Logger>();
  #levels = new Map<string, LevelWithSilent>();

  constructor(root: Logger) {
    this.root = root;
  }

  get(name: string): Logger {
    let logger = this.#loggers.get(name);
    if (!logger) {
      logger = this.root.child({ logger: name });
      logger.level = this.#effectiveLevel(name);
      this.#loggers.set(name, logger);
    }
    return logger;
  }

  /** Change a level at run time. Throws on an unknown level name. */
  setLevel(level: string, name = ''): void {
    const pinoLevel = toPinoLevel(level);
    if (!pinoLevel) throw new Error(`unknown log level: '${level}'`);
    this.#levels.set(name, pinoLevel);
    if (name === '') this.root.level = pinoLevel;
    for (const [n, logger] of this.#loggers) logger.level = this.#effectiveLevel(n);
  }

  levels(): Record<string, string> {
    const out: Record<string, string> = { '': this.root.level };
    for (const [n, l] of this.#loggers) out[n] = l.level;
    return out;
  }

  #effectiveLevel(name: string): LevelWithSilent {
    for (let n = name; ; n = n.includes('.') ? n.slice(0, n.lastIndexOf('.')) : '') {
      const l = this.#levels.get(n);
      if (l) return l;
      if (n === '') return this.root.level as LevelWithSilent;
    }
  }
}
