// Bench output conventions: one JSON line per case on stdout, human progress on stderr.

const t0 = Date.now();

/** One result line on stdout. */
export function emitCase(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

/** Progress on stderr, prefixed with elapsed seconds. */
export function progress(msg: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
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
