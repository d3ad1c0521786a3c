// validateAccess (vdsm's): can a given user, with given groups, read/write/enter a storage path? The
// check runs as that user in a child (setpriv, then test(1), which asks the kernel with access(2)),
// killed at [irs] process_pool_timeout: a path on a dead NFS server cannot hang the helper.
import { s } from '../../api/schema.js';
import { Errors, vdsmError } from '../../errors.js';
import { commandFailed } from '../command-runner.js';
import { requireUnder } from '../path-rules.js';
import { defineFunction, invalidArgument, notAllowed, p } from '../registry.js';
import { ACCOUNT_NAME_RE, resolveUser } from './accounts.js';

const FLAGS = { r: '-r', w: '-w', x: '-x' } as const;

export const validateAccess = defineFunction<{ user: string; groups?: string[]; path: string; access?: string }, { path: string; user: string; access: string }>({
  name: 'validateAccess',
  summary: 'check read/write/execute access to a storage path as a given user and groups, in a child with a timeout',
  vdsmName: 'validateAccess',
  params: {
    user: p.required(s.string(), '[supervdsm] user or one of access_users'),
    groups: p.optional(s.array(s.string()), 'groups to check with (first is the primary); default the user\'s own'),
    path: p.required(s.string(), 'a path below [irs] repository'),
    access: p.optional(s.string(), 'any of r, w, x (default rwx, as vdsm)'),
  },
  async run({ user, groups = [], path, access = 'rwx' }, ctx) {
    if (!ctx.policy.accessUsers.has(user)) throw notAllowed(ctx.method, 'user', user, [...ctx.policy.accessUsers]);
    if (groups.length > 32) throw invalidArgument(ctx.method, 'groups', 'at most 32 groups');
    for (const g of groups) if (!ACCOUNT_NAME_RE.test(g)) throw invalidArgument(ctx.method, 'groups', `${JSON.stringify(g)} is not a group name`);
    if (!/^(?!.*(.).*\1)[rwx]{1,3}$/.test(access)) throw invalidArgument(ctx.method, 'access', 'one to three distinct letters of r, w, x');
    const where = requireUnder('path', path, ctx.policy.storageRoots);
    const test: string[] = [];
    for (const letter of access) test.push(...(test.length ? ['-a'] : []), FLAGS[letter as keyof typeof FLAGS], where);
    // No groups: the user's primary group and its supplementary groups, as a login would have.
    const ids = groups.length > 0 ? [`--regid=${groups[0]}`, `--groups=${groups.join(',')}`] : [`--regid=${(await resolveUser(ctx, user)).gid}`, '--init-groups'];
    const r = await ctx.run('setpriv', [`--reuid=${user}`, ...ids, '--', ctx.commandPath('test'), ...test], {
      timeoutMs: Math.min(ctx.policy.accessTimeoutMs, ctx.remainingMs()),
    });
    if (r.exitCode === 0) return { path: where, user, access };
    if (r.exitCode === 1) throw vdsmError(Errors.SVDSM_ACCESS_DENIED, { path: where, user, groups, access });
    throw commandFailed(r, `access check of ${where} as ${user}`);
  },
});
