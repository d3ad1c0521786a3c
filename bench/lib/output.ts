// Bench output conventions (docs/bench.md): one JSON line per case on stdout, human progress on stderr,
// and, under vdsm-bench, structured steps on the descriptor named by VDSM_BENCH_PROGRESS_FD for its bar.
import { writeSync } from 'node:fs';

const t0 = Date.now();

/** One result line on stdout. */
export function emitCase(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

/** Progress on stderr, prefixed with elapsed seconds. */
export function progress(msg: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

/**
 * Step `done` of `total` is starting (or, with done === total, everything is done). Under vdsm-bench this
 * moves its progress bar; run alone, it is a progress line.
 */
export function step(done: number, total: number, label: string): void {
  const fd = Number(process.env['VDSM_BENCH_PROGRESS_FD']);
  if (Number.isInteger(fd) && fd > 2) {
    try {
      writeSync(fd, `${JSON.stringify({ done, total, label })}\n`);
      return;
    } catch {
      // the reader went away: fall back to a line on stderr
    }
  }
  progress(`(${done}/${total}) ${label}`);
}

/** Where a suite writes report.md and its charts: --out=DIR, else results/<suite> under the current directory. */
export function outDir(flags: Flags, suite: string): string {
  return flags.str('out', `results/${suite}`);
}

/** Command-line flags: --name=value, --name value-less (true), comma lists via list(). */
export class Flags {
  #m = new Map<string, string>();
  constructor(argv: readonly string[] = process.argv.slice(2)) {
    for (const a of argv) {
      const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
      if (m) this.#m.set(m[1]!, m[2] ?? 'true');
    }
  }
  has(name: string): boolean {
    return this.#m.has(name);
  }
  str(name: string, dflt: string): string {
    return this.#m.get(name) ?? dflt;
  }
  num(name: string, dflt: number): number {
    const v = this.#m.get(name);
    return v === undefined ? dflt : Number(v);
  }
  list(name: string, dflt: string[]): string[] {
    const v = this.#m.get(name);
    return v === undefined ? dflt : v.split(',').map((s) => s.trim()).filter(Boolean);
  }
}
