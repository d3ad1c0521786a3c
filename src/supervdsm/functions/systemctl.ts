// systemctl on the units of [supervdsm] systemctl_units only (vdsm's systemctl_stop / systemctl_enable,
// which take any name).
import { s } from '../../api/schema.js';
import { commandFailed } from '../command-runner.js';
import { defineFunction, notAllowed, p } from '../registry.js';

export const SYSTEMCTL_ACTIONS = ['start', 'stop', 'restart', 'enable', 'disable', 'is-active'] as const;
type Action = (typeof SYSTEMCTL_ACTIONS)[number];

export const systemctl = defineFunction<{ action: Action; unit: string }, { unit: string; action: Action; active?: string }>({
  name: 'systemctl',
  summary: 'start, stop, restart, enable, disable or query one unit of the systemctl_units list',
  vdsmName: 'systemctl_stop, systemctl_enable',
  params: {
    action: p.required(s.enumOf(SYSTEMCTL_ACTIONS), 'what to do'),
    unit: p.required(s.string(), 'unit name; ".service" is implied when there is no suffix'),
  },
  async run({ action, unit }, ctx) {
    const name = /\.[a-z]+$/.test(unit) ? unit : `${unit}.service`;
    if (!ctx.policy.systemctlUnits.has(name)) throw notAllowed(ctx.method, 'unit', unit, [...ctx.policy.systemctlUnits]);
    const r = await ctx.run('systemctl', [action, '--', name]);
    if (action === 'is-active') {
      // 0 active, 3 inactive/failed; anything else (no systemd, unit unknown) is a failure.
      if (r.exitCode === 0 || r.exitCode === 3) return { unit: name, action, active: r.stdout.trim() || (r.exitCode === 0 ? 'active' : 'inactive') };
    } else if (r.exitCode === 0) {
      ctx.log.info({ unit: name, action }, 'systemctl done');
      return { unit: name, action };
    }
    throw commandFailed(r, `systemctl ${action} ${name}`);
  },
});
