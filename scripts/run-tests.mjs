#!/usr/bin/env node
// Runs every dist/test/**/*.test.js with node's test runner. Node 20's `node --test DIR` would also run
// every other .js below a test/ folder (helpers, long fuzz scripts) as a test file, and it has no glob.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2] ?? 'dist/test';
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.js')) files.push(p);
  }
};
walk(root);
files.sort();
const args = ['--test', '--test-concurrency=2', '--test-timeout=300000', ...process.argv.slice(3), ...files];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
