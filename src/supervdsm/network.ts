// vdsmd's side of host networking's privileged half: NetworkPrivileged (what NetworkService needs)
// as calls to the helper's network functions (functions/network.ts). Errors keep their codes across
// the socket, so the engine gets vdsm's network error codes whichever side found the problem.
import type { NetworkPrivileged } from '../network/network-service.js';
import { NETWORK_CALL_MAX_MS } from './functions/network.js';
import type { Supervdsm } from './privileged.js';

export function networkThroughHelper(supervdsm: Supervdsm): NetworkPrivileged {
  const long = { timeoutMs: NETWORK_CALL_MAX_MS };
  return {
    setup: (args) => supervdsm.call('networkSetup', args, long),
    commit: async (txId) => {
      await supervdsm.call('networkCommit', { txId }, long);
    },
    rollback: (txId, reason) => supervdsm.call('networkRollback', { txId, reason }, long),
    persist: () => supervdsm.call('networkPersist', {}),
    facts: () => supervdsm.call('networkFacts', {}),
    configs: () => supervdsm.call('networkConfigs', {}),
    nameservers: () => supervdsm.call('networkNameservers', {}),
  };
}
