// What supervdsm's functions may act on, decided once at start from the configuration: who may
// connect, the roots of each kind of path, and the lists of units, users and file system types. Every
// function reads its limits here, so a compromised vdsmd can ask only for these things.
import { join } from 'node:path';
import type { VdsmConfig } from '../config/index.js';
import { canonicalProblem } from './path-rules.js';

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

export interface HelperPolicy {
  /** The unprivileged agent's account ([supervdsm] user); with root, the only peer accepted. */
  readonly agent: Account;
  /** The socket's group ([supervdsm] group) and its id. */
  readonly group: { name: string; gid: number };
  /** uids allowed to connect: root and the agent. */
  readonly allowedUids: ReadonlySet<number>;
  /** Directories whose guest channel sockets prepareVmChannel may touch. */
  readonly channelDirs: readonly string[];
  /** Groups prepareVmChannel may give a channel socket to: the agent's group and ovirt-vmconsole. */
  readonly channelGroups: readonly string[];
  /** Where udev rules are written ([supervdsm] udev_rules_dir). */
  readonly udevRulesDir: string;
  /** Owners udev rules give devices: managed volumes user:group (vdsm: vdsm:qemu), host devices qemuUser:group. */
  readonly diskImageOwner: { user: string; group: string; qemuUser: string };
  /** Device nodes that udev rules and triggers may name. */
  readonly devRoots: readonly string[];
  /** Mount points live strictly below this ([irs] repository + '/mnt'). */
  readonly mountRoot: string;
  readonly mountTypes: ReadonlySet<string>;
  readonly systemctlUnits: ReadonlySet<string>;
  /** saslpasswd2 databases: libvirt's (SASL user of the libvirt connection) and QEMU's VNC one. */
  readonly sasl: { libvirtDb: string; libvirtUser: string; vncDb: string };
  /** Users validateAccess may check as. */
  readonly accessUsers: ReadonlySet<string>;
  /** Paths validateAccess and fuser may look at. */
  readonly storageRoots: readonly string[];
  /** Deadline of a validateAccess child ([irs] process_pool_timeout). */
  readonly accessTimeoutMs: number;
}

export interface PolicyInput {
  config: VdsmConfig;
  agent: Account;
  groupGid: number;
}

/** Problems with configured paths, listed all at once (the daemon refuses to start on any). */
export function policyProblems(cfg: VdsmConfig): string[] {
  const out: string[] = [];
  const check = (key: string, path: string): void => {
    const p = canonicalProblem(path);
    if (p !== undefined || path === '/') out.push(`[supervdsm] ${key} = ${JSON.stringify(path)}: ${p ?? 'may not be /'}`);
  };
  for (const dir of cfg.supervdsm.channel_dirs) check('channel_dirs', dir);
  check('udev_rules_dir', cfg.supervdsm.udev_rules_dir);
  check('sasl_libvirt_db', cfg.supervdsm.sasl_libvirt_db);
  check('sasl_vnc_db', cfg.supervdsm.sasl_vnc_db);
  const repo = canonicalProblem(cfg.irs.repository);
  if (repo !== undefined || cfg.irs.repository === '/') out.push(`[irs] repository = ${JSON.stringify(cfg.irs.repository)}: ${repo ?? 'may not be /'}`);
  return out;
}

export function buildPolicy(input: PolicyInput): HelperPolicy {
  const supervdsm = input.config.supervdsm;
  const repo = input.config.irs.repository;
  return Object.freeze({
    agent: input.agent,
    group: { name: supervdsm.group, gid: input.groupGid },
    allowedUids: new Set([0, input.agent.uid]),
    channelDirs: [...supervdsm.channel_dirs],
    channelGroups: [...new Set([supervdsm.group, 'ovirt-vmconsole'])],
    udevRulesDir: supervdsm.udev_rules_dir,
    diskImageOwner: { user: input.agent.name, group: supervdsm.qemu_group, qemuUser: supervdsm.qemu_user },
    devRoots: ['/dev'],
    mountRoot: join(repo, 'mnt'),
    mountTypes: new Set(supervdsm.mount_types),
    systemctlUnits: new Set(supervdsm.systemctl_units),
    sasl: { libvirtDb: supervdsm.sasl_libvirt_db, libvirtUser: input.config.libvirt.sasl_user, vncDb: supervdsm.sasl_vnc_db },
    accessUsers: new Set([input.agent.name, ...supervdsm.access_users]),
    storageRoots: [repo],
    accessTimeoutMs: input.config.irs.process_pool_timeout * 1000,
  });
}
