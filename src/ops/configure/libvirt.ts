// libvirtd and qemu settings the agent relies on (vdsm's "libvirt" configurator, adapted to Debian's
// paths): the agent logs in with SASL on libvirt's read-write unix socket, which its group (kvm) may
// open; libvirtd's own keepalive is off (the agent runs its own); libvirt's host UUID is the host id;
// for TLS hosts libvirtd's TLS listener (migration) uses the host certificate, without TLS it listens on
// TCP without auth as vdsm does; qemu leaves file ownership to the agent, keeps SPICE/VNC ports in
// vdsm's range, writes guest stdio to files and cores to /var/log/core. Keys an administrator set
// outside our block are kept and reported; validate lists those that contradict [vars] ssl.
import { hostCertFiles } from '../host-certs.js';
import { activeAssignments, applySection, hasSection, readIfExists, replaceFile, stripSection, type Entries } from './conf-section.js';
import type { ConfigureContext, Configurator, Status } from './context.js';

export const LIBVIRTD_CONF = '/etc/libvirt/libvirtd.conf';
export const QEMU_CONF = '/etc/libvirt/qemu.conf';
/** Bump when the entries change: hosts configured with an older block then count as not configured. */
export const LIBVIRT_CONF_VERSION = '1';
/** The group vdsmd runs as (packaging/sysusers.d): it must be able to open libvirt's socket. */
const AGENT_GROUP = 'kvm';

const q = (s: string): string => `"${s}"`;

/** What goes into each file for this configuration. */
export function libvirtEntries(ctx: ConfigureContext): Record<string, Entries> {
  const ssl = ctx.config.vars.ssl;
  const pki = hostCertFiles(ctx.config.vars.trust_store_path);
  return {
    [LIBVIRTD_CONF]: [
      ['unix_sock_group', q(AGENT_GROUP)],
      ['unix_sock_rw_perms', q('0770')],
      ['auth_unix_rw', q('sasl')],
      ['host_uuid', q(ctx.hostId)],
      ['keepalive_interval', '-1'],
      ...(ssl
        ? [['ca_file', q(pki.caFile)], ['cert_file', q(pki.certFile)], ['key_file', q(pki.keyFile)]] as const
        : [['auth_tcp', q('none')], ['listen_tcp', '1'], ['listen_tls', '0']] as const),
    ],
    [QEMU_CONF]: [
      ['dynamic_ownership', '0'],
      ['remote_display_port_min', '5900'],
      ['remote_display_port_max', '6923'],
      ['auto_dump_path', q('/var/log/core')],
      ['stdio_handler', q('file')],
      ...(ssl
        ? [['spice_tls', '1'], ['spice_tls_x509_cert_dir', q(`${ctx.config.vars.trust_store_path}/libvirt-spice`)]] as const
        : [['spice_tls', '0']] as const),
    ],
  };
}

/** Values an administrator set that contradict [vars] ssl (vdsm's ssl conflict check). */
function sslConflicts(ssl: boolean, libvirtd: Map<string, string>, qemu: Map<string, string>): string[] {
  const want: Array<[string, Map<string, string>, string, string]> = ssl
    ? [[LIBVIRTD_CONF, libvirtd, 'listen_tcp', '0'], [LIBVIRTD_CONF, libvirtd, 'listen_tls', '1'], [QEMU_CONF, qemu, 'spice_tls', '1']]
    : [[LIBVIRTD_CONF, libvirtd, 'listen_tls', '0'], [LIBVIRTD_CONF, libvirtd, 'auth_tcp', '"none"'], [QEMU_CONF, qemu, 'spice_tls', '0']];
  const out: string[] = [];
  for (const [file, values, key, good] of want) {
    const v = values.get(key);
    if (v !== undefined && v !== good) out.push(`${file}: ${key} = ${v} contradicts [vars] ssl = ${ssl} (want ${good})`);
  }
  return out;
}

export const libvirt: Configurator = {
  name: 'libvirt',
  summary: `${LIBVIRTD_CONF} and ${QEMU_CONF}: SASL on the unix socket for group ${AGENT_GROUP}, host UUID, TLS per [vars] ssl, qemu ownership and ports`,
  services: ['supervdsmd', 'vdsmd', 'libvirtd'],

  async isConfigured(ctx: ConfigureContext): Promise<Status> {
    const notes: string[] = [];
    for (const file of [LIBVIRTD_CONF, QEMU_CONF]) {
      const text = await readIfExists(ctx.at(file));
      if (text === undefined || !hasSection(text, LIBVIRT_CONF_VERSION)) notes.push(`${ctx.at(file)}: no vdsm-node block of version ${LIBVIRT_CONF_VERSION}`);
    }
    return notes.length ? { configured: false, notes } : { configured: true, notes: [`libvirt is configured for vdsm-node (${LIBVIRTD_CONF}, ${QEMU_CONF})`] };
  },

  async validate(ctx: ConfigureContext): Promise<string[]> {
    const read = async (f: string): Promise<Map<string, string>> => {
      const text = await readIfExists(ctx.at(f));
      // Only what the administrator set counts: our own block is replaced anyway.
      return activeAssignments(stripSection(text ?? ''), '=');
    };
    return sslConflicts(ctx.config.vars.ssl, await read(LIBVIRTD_CONF), await read(QEMU_CONF));
  },

  async configure(ctx: ConfigureContext): Promise<string[]> {
    const done: string[] = [];
    for (const [file, entries] of Object.entries(libvirtEntries(ctx))) {
      const path = ctx.at(file);
      const old = await readIfExists(path);
      const applied = applySection(old ?? `# ${file}: libvirt's defaults apply to every key not set here\n`, LIBVIRT_CONF_VERSION, entries, '=');
      await replaceFile(path, applied.text);
      done.push(`${path}: ${entries.length - applied.kept.length} settings written${old === undefined ? ' (new file)' : ''}`);
      for (const [k, theirs, ours] of applied.kept) done.push(`  kept the administrator's ${k} = ${theirs} (vdsm-node would set ${ours})`);
    }
    return done;
  },
};
