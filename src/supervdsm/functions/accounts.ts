// Name -> id lookups through getent (NSS: /etc/passwd, LDAP, sssd alike), for the helper's start-up
// and for functions that take a group name. Names are checked before they reach getent.
import { Errors, vdsmError } from '../../errors.js';
import type { CallContext } from '../registry.js';

/** POSIX-portable user and group names (plus the '@' and '.' some directories use). */
export const ACCOUNT_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.@-]{0,63}$/;

type Runner = Pick<CallContext, 'run'>;

async function getent(run: Runner, db: 'passwd' | 'group', name: string): Promise<string[]> {
  if (!ACCOUNT_NAME_RE.test(name)) throw vdsmError(Errors.SVDSM_INVALID_ARGUMENT, { argument: db === 'passwd' ? 'user' : 'group', value: name, reason: 'not a valid account name' });
  const r = await run.run('getent', [db, name], { timeoutMs: 10_000 });
  if (r.exitCode === 2) throw vdsmError(Errors.SVDSM_INVALID_ARGUMENT, { argument: db === 'passwd' ? 'user' : 'group', value: name, reason: 'no such account' });
  if (r.exitCode !== 0) throw vdsmError(Errors.SVDSM_COMMAND_FAILED, { step: `getent ${db} ${name}`, exitCode: r.exitCode, output: r.stderr.slice(-300) });
  return r.stdout.trim().split('\n')[0]!.split(':');
}

export async function resolveUser(run: Runner, name: string): Promise<{ name: string; uid: number; gid: number }> {
  const f = await getent(run, 'passwd', name);
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
}

export async function resolveGroup(run: Runner, name: string): Promise<number> {
  return Number((await getent(run, 'group', name))[2]);
}
