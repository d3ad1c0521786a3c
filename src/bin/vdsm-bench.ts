#!/usr/bin/env node
// vdsm-bench: the benchmark suites of bench/ as one installed command (bench/cli.ts does the work).
import { main } from '../../bench/cli.js';

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`vdsm-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
