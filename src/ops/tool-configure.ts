// `vdsm-tool configure`, `is-configured` and `vdsm-id`, as oVirt's host deploy uses them: it runs
// `vdsm-tool configure --force` after enrolling the certificate, vdsmd's start checks `is-configured`,
// and `vdsm-id` gives the id the engine knows the host by. Every path is taken under --root (default /),
// so tests and image builders can work on a tree that is not the running system.
import { ConfigurationError } from '../config/violations.js';
import { configArgOptions, CONFIG_OPTIONS_HELP, loadOptionsFromArgs, type ConfigArgValues } from '../config/cli-options.js';
import { defaultDropinDirs, loadConfig } from '../config/load-config.js';
import type { VdsmConfig } from '../config/schema.js';
import { EXIT_OK, EXIT_USAGE, type ToolIO, type ToolVerb } from '../config/tool-verbs.js';
import { mergeArgs, readVdsmArgs, VDSM_ARGS_HELP, vdsmArgsOptions } from '../config/vdsm-args.js';
import { persistHostId, placeholderUuid, readHostId, VDSM_ID_PATH } from '../host/host-id.js';
import { join } from 'node:path';
import { certificates } from './configure/certificates.js';
import { libvirt } from './configure/libvirt.js';
import { sasl } from './configure/sasl.js';
import { makeContext, pickServices, type ConfigureContext, type Configurator, type ServiceControl } from './configure/context.js';
import { errorMessage } from '../errors.js';

const EXIT_FAILED = 1;

/** In dependency order: libvirt's TLS settings point at the certificates. */
export const CONFIGURATORS: readonly Configurator[] = [certificates, sasl, libvirt];

const moduleNames = CONFIGURATORS.map((c) => c.name).join(', ');

const commonOptions = {
  ...configArgOptions,
  ...vdsmArgsOptions,
  module: { type: 'string', multiple: true },
  root: { type: 'string', default: '/' },
} as const;

const COMMON_HELP = `  --module NAME    only this module (repeatable): ${moduleNames}; default: all
  --root DIR       work on the tree under DIR instead of / (an image, a test tree): every path,
                   the configuration file (DIR/etc/vdsm/vdsm.conf unless --config) and the lock
                   that tells whether vdsmd runs are taken under it

Modules:
${CONFIGURATORS.map((c) => `  ${c.name.padEnd(13)} ${c.summary}`).join('\n')}

${CONFIG_OPTIONS_HELP}
${VDSM_ARGS_HELP}`;

class UsageError extends Error {}

async function context(values: Record<string, unknown>, io: ToolIO): Promise<{ ctx: ConfigureContext; modules: Configurator[] }> {
  const root = values['root'] as string;
  const wanted = (values['module'] as string[] | undefined) ?? [];
  const unknown = wanted.filter((m) => !CONFIGURATORS.some((c) => c.name === m));
  if (unknown.length) throw new UsageError(`unknown module ${unknown.join(', ')}; modules: ${moduleNames}`);
  const modules = wanted.length ? CONFIGURATORS.filter((c) => wanted.includes(c.name)) : [...CONFIGURATORS];
  const unit = await readVdsmArgs({ sysconfig: values['sysconfig'] as string | undefined, defaultFile: join(root, 'etc/sysconfig/vdsm'), ignore: values['no-vdsm-args'] === true });
  if (unit.source !== undefined) io.stderr(`note: applying ${unit.source}: ${unit.words.join(' ')}\n`);
  const args: ConfigArgValues = mergeArgs(unit.values, values as ConfigArgValues);
  const options = loadOptionsFromArgs(args);
  // Under --root the configuration is the tree's (its vdsm.conf may be absent, as on a host).
  const underRoot = args.config === undefined && root !== '/'
    ? { configFile: join(root, 'etc/vdsm/vdsm.conf'), requireConfigFile: false, dropinDirs: defaultDropinDirs.map((d) => join(root, d)) }
    : {};
  const { config } = await loadConfig({ ...options, ...underRoot });
  const host = await readHostId(root);
  return { ctx: makeContext(root, config as VdsmConfig, host.id), modules };
}

async function guarded(verb: string, io: ToolIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`vdsm-tool ${verb}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof ConfigurationError) {
      io.stderr(`${err.message}\n`);
      return EXIT_FAILED;
    }
    io.stderr(`vdsm-tool ${verb}: ${errorMessage(err)}\n`);
    return EXIT_FAILED;
  }
}

export const isConfiguredVerb: ToolVerb = {
  name: 'is-configured',
  summary: 'check that libvirt, its SASL login and the host certificate are set up for the agent',
  help: `Usage: vdsm-tool is-configured [--module NAME]... [--root DIR] [configuration options]

Checks each module and prints what it found. Exit 0 when every module is configured, 1 when one is
not (run vdsm-tool configure then), 2 on bad usage.

${COMMON_HELP}`,
  options: commonOptions,
  run(values, io) {
    return guarded('is-configured', io, async () => {
      const { ctx, modules } = await context(values, io);
      const missing: string[] = [];
      for (const m of modules) {
        const s = await m.isConfigured(ctx);
        io.stdout(`${m.name}: ${s.configured ? 'configured' : 'NOT configured'}\n${s.notes.map((n) => `  ${n}\n`).join('')}`);
        if (!s.configured) missing.push(m.name);
      }
      if (missing.length) {
        io.stderr(`Modules ${missing.join(', ')} are not configured; run 'vdsm-tool configure${ctx.root === '/' ? '' : ` --root ${ctx.root}`} --force'.\n`);
        return EXIT_FAILED;
      }
      return EXIT_OK;
    });
  },
};

export const configureVerb: ToolVerb = {
  name: 'configure',
  summary: 'set up libvirt, its SASL login and the host certificate for the agent',
  help: `Usage: vdsm-tool configure [--module NAME]... [--force] [--root DIR] [configuration options]

Configures every module that is not configured yet (all of them with --force). Refuses while a
service the module affects runs (vdsmd, supervdsmd, libvirtd for the libvirt module): with --force
those are stopped first and started again afterwards (systemd on the running system; under --root
nothing is started or stopped, and a running vdsmd, seen through its lock, makes it fail). Settings an
administrator made outside vdsm-node's block in libvirtd.conf and qemu.conf are kept; ones that
contradict [vars] ssl make it fail before anything is written.

  --force          reconfigure configured modules too, stopping and restarting services
${COMMON_HELP}`,
  options: { ...commonOptions, force: { type: 'boolean', default: false } },
  run(values, io) {
    return guarded('configure', io, async () => {
      const { ctx, modules } = await context(values, io);
      const force = values['force'] === true;
      for (const m of modules) {
        const problems = await m.validate(ctx);
        if (problems.length) throw new Error(`the ${m.name} configuration cannot be written:\n${problems.map((p) => `  ${p}`).join('\n')}\nChange or remove those settings, then run configure again.`);
      }
      const todo: Configurator[] = [];
      for (const m of modules) if (force || !(await m.isConfigured(ctx)).configured) todo.push(m);
      if (todo.length === 0) {
        io.stdout(`${modules.map((m) => m.name).join(', ')}: already configured (--force reconfigures)\n`);
        return EXIT_OK;
      }
      const services = await pickServices(ctx);
      const running: string[] = [];
      for (const name of new Set(todo.flatMap((m) => m.services))) if (await services.isActive(name)) running.push(name);
      if (running.length && !force) throw new Error(`cannot configure ${todo.map((m) => m.name).join(', ')} while ${running.join(', ')} ${running.length > 1 ? 'are' : 'is'} running; stop ${running.length > 1 ? 'them' : 'it'} or add --force`);
      await persistId(ctx, io);
      for (const name of running) await stopService(services, name, io);
      try {
        for (const m of todo) {
          io.stdout(`${m.name}:\n`);
          for (const line of await m.configure(ctx)) io.stdout(`  ${line}\n`);
        }
      } finally {
        for (const name of [...running].reverse()) {
          io.stdout(`starting ${name}\n`);
          await services.start(name);
        }
      }
      io.stdout(`done: ${todo.map((m) => m.name).join(', ')}\n`);
      return EXIT_OK;
    });
  },
};

async function stopService(services: ServiceControl, name: string, io: ToolIO): Promise<void> {
  io.stdout(`stopping ${name} (${services.kind})\n`);
  await services.stop(name);
}

/** libvirt's host_uuid is the host id: make sure vdsm-id reports the same one later. */
async function persistId(ctx: ConfigureContext, io: ToolIO): Promise<void> {
  if (await persistHostId(ctx.root, ctx.hostId)) io.stdout(`host id ${ctx.hostId} saved to ${ctx.at(`/${VDSM_ID_PATH}`)}\n`);
}

export const vdsmIdVerb: ToolVerb = {
  name: 'vdsm-id',
  summary: 'print the host id the engine knows this host by (and persist it)',
  help: `Usage: vdsm-tool vdsm-id [--root DIR] [--no-persist]

Prints the host id: the first line of /etc/vdsm/vdsm.id when it exists, else the DMI system UUID
(/sys/class/dmi/id/product_uuid), else /etc/machine-id as a UUID, else a new random UUID. An id not
read from vdsm.id is saved there, so it stays the same when the board or the image changes. A DMI UUID
that firmware left as a placeholder (all zeros, all F) is reported on stderr: several hosts would share
it, and the engine refuses a second host with the same id.

  --root DIR       read and write under DIR instead of /
  --no-persist     do not write /etc/vdsm/vdsm.id
`,
  options: { root: { type: 'string', default: '/' }, 'no-persist': { type: 'boolean', default: false } },
  run(values, io) {
    return guarded('vdsm-id', io, async () => {
      const root = values['root'] as string;
      const host = await readHostId(root);
      if (host.source === 'dmi' && placeholderUuid(host.id)) {
        io.stderr(`warning: the DMI system UUID ${host.id} is a firmware placeholder shared by many machines; write a unique id (uuidgen) to /etc/vdsm/vdsm.id before adding this host\n`);
      }
      if (host.source !== 'vdsm.id' && values['no-persist'] !== true) {
        const saved = await persistHostId(root, host.id);
        if (saved) io.stderr(`note: host id from ${host.source === 'dmi' ? 'DMI' : host.source}, saved to ${join(root, VDSM_ID_PATH)}\n`);
      }
      io.stdout(`${host.id}\n`);
      return EXIT_OK;
    });
  },
};

export const configureVerbs: readonly ToolVerb[] = [configureVerb, isConfiguredVerb, vdsmIdVerb];
