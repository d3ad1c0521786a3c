// The host's TLS identity (vdsm's "certificates" configurator). Configured when TLS is off, or when the
// host certificate, its key and the CA are there and valid: inside their dates, the key matches, the CA
// signed the certificate. configure makes a self-signed CA and host certificate only when none of the
// three files exists (a host not yet enrolled can then start; the engine replaces them when it enrols
// the host). It never overwrites enrolled material: an expired or mismatched certificate needs a
// re-enrolment from the engine.
import { ensurePki } from '../../rpc/pki.js';
import { certificateProblems, daysLeft, hostCertFiles, missingFiles } from '../host-certs.js';
import { chown } from 'node:fs/promises';
import { readableBy, vdsmOwner, type ConfigureContext, type Configurator, type Status } from './context.js';

const EXPIRY_WARNING_DAYS = 30;

export const certificates: Configurator = {
  name: 'certificates',
  summary: 'host certificate, key and CA under [vars] trust_store_path: present, valid, matching',
  services: [],

  async isConfigured(ctx: ConfigureContext): Promise<Status> {
    if (!ctx.config.vars.ssl) return { configured: true, notes: ['TLS is off ([vars] ssl = false): no certificate needed'] };
    const files = hostCertFiles(ctx.at(ctx.config.vars.trust_store_path));
    const problems = await certificateProblems(files);
    if (problems.length > 0) return { configured: false, notes: problems.map((p) => `${p.file}: ${p.problem}`) };
    const owner = await vdsmOwner(ctx);
    if (owner && !(await readableBy(files.keyFile, owner))) {
      return { configured: false, notes: [`${files.keyFile}: user vdsm (uid ${owner.uid}), which vdsmd runs as, cannot read it`] };
    }
    const left = await daysLeft(files.certFile);
    const notes = [`${files.certFile} is valid${left !== undefined ? ` for ${left} more days` : ''}`];
    if (left !== undefined && left < EXPIRY_WARNING_DAYS) notes.push(`warning: it expires in ${left} days; re-enrol the host from the engine (Installation > Enroll Certificate)`);
    return { configured: true, notes };
  },

  validate: () => Promise.resolve([]),

  async configure(ctx: ConfigureContext): Promise<string[]> {
    if (!ctx.config.vars.ssl) return ['TLS is off ([vars] ssl = false): nothing to do'];
    const dir = ctx.at(ctx.config.vars.trust_store_path);
    const files = hostCertFiles(dir);
    const missing = await missingFiles(files);
    if (missing.length === 3) {
      await ensurePki(dir, { caSubject: '/O=vdsm-node/CN=vdsm-node self-signed host CA' });
      const owner = await vdsmOwner(ctx);
      if (owner) await chown(files.keyFile, owner.uid, owner.gid);
      return [`created a self-signed CA and host certificate in ${dir}${owner ? ' (key owned by vdsm:kvm)' : ''}; the engine replaces them when it enrols the host`];
    }
    const problems = await certificateProblems(files);
    if (problems.length === 0) {
      const owner = await vdsmOwner(ctx);
      if (owner && !(await readableBy(files.keyFile, owner))) {
        await chown(files.keyFile, owner.uid, owner.gid);
        return [`${files.certFile} is present and valid; ${files.keyFile} now owned by vdsm:kvm so vdsmd can read it`];
      }
      return [`${files.certFile} is present and valid`];
    }
    throw new Error(`the host certificate cannot be repaired here (${problems.map((p) => `${p.file}: ${p.problem}`).join('; ')}); ` +
      're-enrol the host from the engine (Management > Maintenance, then Installation > Enroll Certificate)');
  },
};
