// prepareVmChannel (vdsm's): let vdsm connect to a guest channel socket libvirt created for QEMU, by
// adding group write and optionally handing the socket to the agent's group. Only sockets directly
// inside the configured channel directories; the socket is changed through its own descriptor.
import { s } from '../../api/schema.js';
import { requireUnder } from '../path-rules.js';
import { defineFunction, notAllowed, p } from '../registry.js';
import { resolveGroup } from './accounts.js';

export const prepareVmChannel = defineFunction<{ socketFile: string; group?: string }, { path: string; before: unknown; after: unknown }>({
  name: 'prepareVmChannel',
  summary: "add group write to a guest channel socket (and give it to a group) so vdsm can connect",
  vdsmName: 'prepareVmChannel',
  params: {
    socketFile: p.required(s.string(), 'the channel socket, inside [supervdsm] channel_dirs'),
    group: p.optional(s.string(), "new group: [supervdsm] group or ovirt-vmconsole (default: keep)"),
  },
  async run({ socketFile, group }, ctx) {
    const path = requireUnder('socketFile', socketFile, ctx.policy.channelDirs);
    let gid: number | undefined;
    if (group !== undefined) {
      if (!ctx.policy.channelGroups.includes(group)) throw notAllowed(ctx.method, 'group', group, ctx.policy.channelGroups);
      gid = group === ctx.policy.group.name ? ctx.policy.group.gid : await resolveGroup(ctx, group);
    }
    const r = await ctx.fs.socketAccess(path, ctx.policy.channelDirs, { groupWrite: true, ...(gid !== undefined ? { gid } : {}) });
    ctx.log.info({ path: r.path, before: r.before, after: r.after }, 'VM channel socket prepared');
    return r;
  },
});
