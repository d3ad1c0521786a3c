// saslpasswd2 for the two SASL databases vdsm maintains: libvirt's (the SASL user vdsmd logs in to
// libvirt with) and QEMU's VNC password database (vdsm's saslpasswd2_set/remove_vnc_password).
// Passwords go to saslpasswd2 on stdin (-p), never on a command line.
import { s } from '../../api/schema.js';
import { commandFailed } from '../command-runner.js';
import { defineFunction, invalidArgument, notAllowed, p, type CallContext } from '../registry.js';

const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$/;
export const MAX_PASSWORD_BYTES = 256;

type Db = 'libvirt' | 'vnc';

/** saslpasswd2 -a <application> -f <database> for a db name, after checking the user may be set there. */
function target(ctx: CallContext, db: Db, user: string): string[] {
  if (!USER_RE.test(user)) throw invalidArgument(ctx.method, 'user', 'must be 1..128 characters of A-Z a-z 0-9 _.@- not starting with . @ or -');
  if (db === 'libvirt') {
    // libvirt's database holds only the agent's own login.
    if (user !== ctx.policy.sasl.libvirtUser) throw notAllowed(ctx.method, 'user', user, [ctx.policy.sasl.libvirtUser]);
    return ['-a', 'libvirt', '-f', ctx.policy.sasl.libvirtDb];
  }
  return ['-a', 'qemu', '-f', ctx.policy.sasl.vncDb];
}

const dbParam = p.required(s.enumOf(['libvirt', 'vnc']), "libvirt: [libvirt] sasl_user's login; vnc: QEMU's VNC passwords");

export const saslSetPassword = defineFunction<{ db: Db; user: string; password: string }, { db: Db; user: string }>({
  name: 'saslSetPassword',
  summary: "set a SASL password in libvirt's or QEMU's VNC database (saslpasswd2 -p)",
  vdsmName: 'saslpasswd2_set_vnc_password (and vdsm-tool configure passwd)',
  params: { db: dbParam, user: p.required(s.string(), 'SASL user name'), password: p.required(s.string(), 'the password') },
  async run({ db, user, password }, ctx) {
    const where = target(ctx, db, user);
    if (password.length === 0 || Buffer.byteLength(password) > MAX_PASSWORD_BYTES || /[\r\n\0]/.test(password)) {
      throw invalidArgument(ctx.method, 'password', `must be 1..${MAX_PASSWORD_BYTES} bytes without line breaks or NUL`);
    }
    const r = await ctx.run('saslpasswd2', [...where, '-p', '-c', '--', user], { input: password });
    if (r.exitCode !== 0) throw commandFailed(r, `saslpasswd2 for ${user} in the ${db} database`);
    ctx.log.info({ db, user }, 'SASL password set');
    return { db, user };
  },
});

export const saslRemovePassword = defineFunction<{ db: Db; user: string }, { db: Db; user: string }>({
  name: 'saslRemovePassword',
  summary: "remove a SASL user from libvirt's or QEMU's VNC database (saslpasswd2 -d)",
  vdsmName: 'saslpasswd2_remove_vnc_password',
  params: { db: dbParam, user: p.required(s.string(), 'SASL user name') },
  async run({ db, user }, ctx) {
    const r = await ctx.run('saslpasswd2', [...target(ctx, db, user), '-d', '--', user]);
    if (r.exitCode !== 0) throw commandFailed(r, `saslpasswd2 -d ${user} in the ${db} database`);
    ctx.log.info({ db, user }, 'SASL user removed');
    return { db, user };
  },
});
