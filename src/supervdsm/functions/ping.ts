// ping and status: liveness of the helper, and what it is doing (vdsm-tool supervdsm shows it).
import { defineFunction } from '../registry.js';

export const ping = defineFunction<Record<string, never>, true>({
  name: 'ping',
  summary: 'liveness check; always true',
  vdsmName: 'ping',
  params: {},
  run: () => Promise.resolve(true),
});

export const status = defineFunction<Record<string, never>, Record<string, unknown>>({
  name: 'status',
  summary: "the helper's pid, uptime, connections, calls in flight and served, worker threads and child processes",
  params: {},
  run: (_args, ctx) => Promise.resolve(ctx.serverState()),
});
