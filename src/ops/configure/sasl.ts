// libvirt's SASL login for the agent (vdsm's "passwd" configurator): the password file the agent reads
// ([libvirt] password_file, first line), the user ([libvirt] sasl_user, vdsm@ovirt) in libvirt's sasldb
// with that password, and libvirt's SASL application config asking for SCRAM-SHA-256 against that
// sasldb. The password is generated once (random) when the file does not exist; vdsm ships a fixed one.
import { randomBytes } from 'node:crypto';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { applySection, hasSection, readIfExists, replaceFile } from './conf-section.js';
import { vdsmOwner, type ConfigureContext, type Configurator, type Status } from './context.js';

export const SASLDB = '/etc/libvirt/passwd.db';
export const SASL_CONF = '/etc/sasl2/libvirt.conf';
const SASL_CONF_VERSION = '1';
const SASL_ENTRIES = [['mech_list', 'scram-sha-256'], ['sasldb_path', SASLDB]] as const;
const SASLPASSWD2 = 'saslpasswd2';
const SASLDBLISTUSERS2 = 'sasldblistusers2';

async function password(ctx: ConfigureContext): Promise<string | undefined> {
  const text = await readIfExists(ctx.at(ctx.config.libvirt.password_file));
  const first = text?.split('\n')[0];
  return first ? first : undefined;
}

async function userInDb(ctx: ConfigureContext): Promise<boolean> {
  const r = await ctx.run(SASLDBLISTUSERS2, ['-f', ctx.at(SASLDB)]);
  return r.code === 0 && r.stdout.split('\n').some((l) => l.startsWith(`${ctx.config.libvirt.sasl_user}:`));
}

export const sasl: Configurator = {
  name: 'passwd',
  summary: `libvirt SASL user ([libvirt] sasl_user) in ${SASLDB}, its password file, SCRAM-SHA-256 in ${SASL_CONF}`,
  services: [],

  async isConfigured(ctx: ConfigureContext): Promise<Status> {
    const notes: string[] = [];
    const file = ctx.at(ctx.config.libvirt.password_file);
    if ((await password(ctx)) === undefined) notes.push(`${file}: no password (missing or empty)`);
    if (!(await userInDb(ctx))) notes.push(`${ctx.at(SASLDB)}: no SASL user ${ctx.config.libvirt.sasl_user}`);
    const conf = await readIfExists(ctx.at(SASL_CONF));
    if (conf === undefined || !hasSection(conf, SASL_CONF_VERSION)) notes.push(`${ctx.at(SASL_CONF)}: SCRAM-SHA-256 and the sasldb path are not set by vdsm-node`);
    return notes.length ? { configured: false, notes } : { configured: true, notes: [`SASL user ${ctx.config.libvirt.sasl_user} is in ${ctx.at(SASLDB)}, password in ${file}`] };
  },

  // Our block comments out conflicting lines: nothing of the administrator's can contradict it.
  validate: () => Promise.resolve([]),

  async configure(ctx: ConfigureContext): Promise<string[]> {
    const done: string[] = [];
    const file = ctx.at(ctx.config.libvirt.password_file);
    let pw = await password(ctx);
    if (pw === undefined) {
      pw = randomBytes(24).toString('base64url');
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${pw}\n`, { mode: 0o600 });
      const owner = await vdsmOwner(ctx);
      if (owner) await chown(file, owner.uid, owner.gid);
      done.push(`generated a libvirt password in ${file}${owner ? ' (owner vdsm:kvm, mode 0600)' : ' (mode 0600; no vdsm user under this root to own it)'}`);
    }
    await mkdir(dirname(ctx.at(SASLDB)), { recursive: true });
    const r = await ctx.run(SASLPASSWD2, ['-p', '-a', 'libvirt', '-f', ctx.at(SASLDB), ctx.config.libvirt.sasl_user], pw);
    if (r.code !== 0) throw new Error(`${SASLPASSWD2} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    done.push(`set the password of SASL user ${ctx.config.libvirt.sasl_user} in ${ctx.at(SASLDB)}`);
    const conf = ctx.at(SASL_CONF);
    const applied = applySection((await readIfExists(conf)) ?? '# libvirt SASL configuration\n', SASL_CONF_VERSION, SASL_ENTRIES, ':', 'override');
    await replaceFile(conf, applied.text);
    done.push(`${conf}: mech_list scram-sha-256, sasldb_path ${SASLDB}${applied.commented.length ? ` (commented out: ${applied.commented.map((l) => l.trim()).join('; ')})` : ''}`);
    return done;
  },
};
