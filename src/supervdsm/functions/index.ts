// Every privileged function supervdsm serves. To add one: write a module next to these with
// defineFunction (name, params, run) and list it here; the registry, the socket server, vdsmd's typed
// client (SupervdsmFunctions), the metrics and the docs table pick it up.
import type { FunctionSpec } from '../registry.js';
import { validateAccess } from './access.js';
import { fuser } from './fuser.js';
import { getHardwareInfo, getKernelFeatures } from './hwinfo.js';
import { hugepagesAlloc, hugepagesPrepare } from './hugepages.js';
import { ksmTune } from './ksm.js';
import { mount, umount } from './mount.js';
import { networkCommit, networkConfigs, networkFacts, networkNameservers, networkPersist, networkRollback, networkSetup } from './network.js';
import { ping, status } from './ping.js';
import { saslRemovePassword, saslSetPassword } from './sasl.js';
import { systemctl } from './systemctl.js';
import { udevAddRule, udevListRules, udevRemoveRule, udevTrigger } from './udev.js';
import { prepareVmChannel } from './vm-channel.js';

export const FUNCTIONS = {
  ping, status,
  getHardwareInfo, getKernelFeatures,
  ksmTune, hugepagesAlloc, hugepagesPrepare,
  prepareVmChannel,
  udevAddRule, udevRemoveRule, udevListRules, udevTrigger,
  systemctl,
  mount, umount,
  saslSetPassword, saslRemovePassword,
  validateAccess, fuser,
  networkSetup, networkCommit, networkRollback, networkPersist, networkFacts, networkConfigs, networkNameservers,
} as const;

/** name -> its FunctionSpec type: what vdsmd's typed client derives argument and result types from. */
export type SupervdsmFunctions = typeof FUNCTIONS;

export const ALL_FUNCTIONS: readonly FunctionSpec[] = Object.freeze(Object.values(FUNCTIONS) as FunctionSpec[]);
