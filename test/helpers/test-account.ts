// A throw-away system user and group for tests that run vdsmd (or a peer) unprivileged: random names
// so parallel runs never collide, removed by cleanup(). Needs root (useradd / groupadd).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestAccount {
  user: string;
  group: string;
  uid: number;
  gid: number;
  cleanup(): Promise<void>;
}

export async function createTestAccount(prefix = 'vdt'): Promise<TestAccount> {
  const name = `${prefix}${randomBytes(4).toString('hex')}`;
  await run('groupadd', ['--system', name]);
  try {
    await run('useradd', ['--system', '--gid', name, '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
  } catch (err) {
    await run('groupdel', [name]).catch(() => undefined);
    throw err;
  }
  const uid = Number((await run('id', ['-u', name])).stdout.trim());
  const gid = Number((await run('id', ['-g', name])).stdout.trim());
  return {
    user: name, group: name, uid, gid,
    cleanup: async () => {
      await run('userdel', [name]).catch(() => undefined);
      await run('groupdel', [name]).catch(() => undefined);
    },
  };
}

/** Arguments that make setpriv run a program as `account` (its group only, no supplementary groups). */
export function asAccount(account: { uid: number; gid: number }): string[] {
  return [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--clear-groups', '--'];
}
