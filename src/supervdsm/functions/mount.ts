// mount and umount for storage connections (vdsm's supervdsm mount/umount): only below
// [irs] repository/mnt, only file system types of [supervdsm] mount_types, and always nosuid,nodev (a
// storage server must not be able to hand this host set-uid programs or device nodes).
import { s } from '../../api/schema.js';
import { Errors, vdsmError } from '../../errors.js';
import { commandFailed } from '../command-runner.js';
import { requireUnder } from '../path-rules.js';
import { defineFunction, invalidArgument, notAllowed, p, type CallContext } from '../registry.js';

/** Mount options a caller may not ask for: they would undo nosuid,nodev or mount something other than a connection. */
export const FORBIDDEN_OPTIONS = new Set(['suid', 'dev', 'bind', 'rbind', 'move', 'remount', 'loop', 'x-mount.mkdir', 'defaults', 'user', 'users', 'owner', 'group', 'helper']);
const OPTION_RE = /^[A-Za-z0-9_.-]+(=[A-Za-z0-9_.:/@+=-]*)?$/;
/** A storage server spec: host:/path, a /dev path, or a pseudo source name; no spaces, no leading dash. */
const SPEC_RE = /^[A-Za-z0-9_.:/@+[\]=-]{1,1024}$/;
const FORCED = ['nosuid', 'nodev'];

function target(ctx: CallContext, value: string): string {
  const path = requireUnder('target', value, [ctx.policy.mountRoot]);
  // vdsm's mount points: mnt/<server:_path> and mnt/glusterSD/<server:_volume>.
  const depth = path.slice(ctx.policy.mountRoot.length + 1).split('/').length;
  if (depth > 2) throw invalidArgument(ctx.method, 'target', `must be at most two levels below ${ctx.policy.mountRoot}`);
  return path;
}

function splitOptions(ctx: CallContext, options: string): string[] {
  if (options === '') return [];
  const items = options.split(',');
  for (const item of items) {
    if (!OPTION_RE.test(item)) throw invalidArgument(ctx.method, 'options', `${JSON.stringify(item)} is not a plain mount option`);
    const name = item.split('=')[0]!;
    if (FORBIDDEN_OPTIONS.has(name)) {
      throw vdsmError(Errors.SVDSM_NOT_ALLOWED, { method: ctx.method, argument: 'options', value: name, reason: 'the helper mounts storage connections only, always nosuid,nodev', forbidden: [...FORBIDDEN_OPTIONS] });
    }
  }
  return items;
}

export const mount = defineFunction<{ spec: string; target: string; vfstype: string; options?: string }, { target: string; options: string }>({
  name: 'mount',
  summary: 'mount a storage connection below [irs] repository/mnt (types of mount_types; nosuid,nodev forced)',
  vdsmName: 'mount',
  params: {
    spec: p.required(s.string(), 'what to mount: server:/export, /dev/..., or a source name'),
    target: p.required(s.string(), 'mount point below [irs] repository/mnt'),
    vfstype: p.required(s.string(), 'file system type'),
    options: p.optional(s.string(), 'comma-separated mount options'),
  },
  async run(args, ctx) {
    if (!SPEC_RE.test(args.spec) || args.spec.startsWith('-')) throw invalidArgument(ctx.method, 'spec', 'must be 1..1024 characters of A-Z a-z 0-9 _.:/@+[]=- and not start with -');
    const where = target(ctx, args.target);
    if (!ctx.policy.mountTypes.has(args.vfstype)) throw notAllowed(ctx.method, 'vfstype', args.vfstype, [...ctx.policy.mountTypes]);
    const opts = [...splitOptions(ctx, args.options ?? '').filter((o) => !FORCED.includes(o)), ...FORCED].join(',');
    const r = await ctx.run('mount', ['-t', args.vfstype, '-o', opts, '--', args.spec, where]);
    if (r.exitCode !== 0) throw commandFailed(r, `mount ${args.spec} on ${where}`);
    ctx.log.info({ spec: args.spec, target: where, vfstype: args.vfstype, options: opts }, 'mounted');
    return { target: where, options: opts };
  },
});

export const umount = defineFunction<{ target: string; force?: boolean; lazy?: boolean }, { target: string }>({
  name: 'umount',
  summary: 'unmount a storage connection below [irs] repository/mnt',
  vdsmName: 'umount',
  params: {
    target: p.required(s.string(), 'mount point below [irs] repository/mnt'),
    force: p.optional(s.bool(), 'umount -f (an unreachable NFS server)'),
    lazy: p.optional(s.bool(), 'umount -l'),
  },
  async run(args, ctx) {
    const where = target(ctx, args.target);
    const r = await ctx.run('umount', [...(args.force ? ['-f'] : []), ...(args.lazy ? ['-l'] : []), '--', where]);
    if (r.exitCode !== 0) throw commandFailed(r, `umount ${where}`);
    ctx.log.info({ target: where, force: args.force === true, lazy: args.lazy === true }, 'unmounted');
    return { target: where };
  },
});
