// fuser (vdsm's): the processes using a storage path or device, or, with mountPoint, any file on the
// file system mounted there.
import { s } from '../../api/schema.js';
import { commandFailed } from '../command-runner.js';
import { requireUnder } from '../path-rules.js';
import { defineFunction, p } from '../registry.js';

export const fuser = defineFunction<{ path: string; mountPoint?: boolean }, number[]>({
  name: 'fuser',
  summary: 'pids of the processes using a path below [irs] repository or a device under /dev',
  vdsmName: 'fuser',
  params: {
    path: p.required(s.string(), 'a path below [irs] repository, or /dev/...'),
    mountPoint: p.optional(s.bool(), 'fuser -m: every file of the file system mounted on path'),
  },
  async run({ path, mountPoint }, ctx) {
    const where = requireUnder('path', path, [...ctx.policy.storageRoots, ...ctx.policy.devRoots]);
    // psmisc's fuser takes no '--'; the path starts with '/', so it cannot be read as an option.
    const r = await ctx.run('fuser', [...(mountPoint ? ['-m'] : []), where]);
    // fuser prints pids on stdout (the rest on stderr) and exits 1 when nothing uses the path.
    if (r.exitCode !== 0 && !(r.exitCode === 1 && r.stdout.trim() === '')) throw commandFailed(r, `fuser ${where}`);
    return r.stdout.split(/\s+/).filter((t) => /^\d+$/.test(t)).map(Number);
  },
});
