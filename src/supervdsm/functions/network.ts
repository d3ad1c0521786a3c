// Host networking's privileged half (vdsm runs setupNetworks, setSafeNetworkConfig and the netinfo
// reads in supervdsm too): vdsmd hands the engine's request over as it came, and the helper's one
// NetworkApplier checks it against the kernel and the running configuration, applies it as a
// transaction with iproute2 and keeps a change that waits for the engine's connectivity check pending
// across calls. If vdsmd goes away before settling that change, the helper rolls it back at once (and
// the applier's guard timer would, at connectivityTimeout + 30 s).
// Every argument is checked again here: nothing vdsmd sends reaches `ip` unless the applier's own
// canonicalization and checks accept it (device names, addresses, options by vdsm's rules).
import { s } from '../../api/schema.js';
import { Errors, isError } from '../../errors.js';
import type { RollbackResult, SetupResult } from '../../network/applier.js';
import type { NetConfig, NetworkRawFacts } from '../../network/types.js';
import { defineFunction, invalidArgument, p, type CallContext } from '../registry.js';

/**
 * A change may create a hundred VLANs or wait for a DHCP lease (dhclient -1 gives up after 60 s):
 * longer than the helper's default deadline, bounded all the same.
 */
export const NETWORK_CALL_MAX_MS = 10 * 60_000;

/** An id the applier gave out (a UUID); anything else cannot name a pending change. */
const TX_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function txIdOf(ctx: CallContext, txId: string): string {
  if (!TX_ID.test(txId)) throw invalidArgument(ctx.method, 'txId', `${JSON.stringify(txId.slice(0, 60))} is not a change id (a UUID networkSetup returned)`);
  return txId;
}

export const networkSetup = defineFunction<{ networks: Record<string, unknown>; bondings: Record<string, unknown>; options: Record<string, unknown> }, SetupResult>({
  name: 'networkSetup',
  summary: 'apply one setupNetworks change as a transaction with iproute2 (rolled back whole on failure; pending while the connectivity check runs)',
  vdsmName: 'setupNetworks',
  params: {
    networks: p.required(s.map(s.any()), 'network name -> NetworkAttributes, as the engine sent them'),
    bondings: p.required(s.map(s.any()), 'bond name -> BondingAttributes, as the engine sent them'),
    options: p.required(s.map(s.any()), 'connectivityCheck, connectivityTimeout, commitOnSuccess'),
  },
  maxTimeoutMs: NETWORK_CALL_MAX_MS,
  async run(args, ctx) {
    const net = ctx.network();
    const res = await net.setup(args);
    if (res.pending) {
      // Only the vdsmd that asked knows the change's id: once it is gone nobody can confirm the change,
      // so it is undone now rather than when the applier's guard timer fires.
      ctx.onPeerGone(() => {
        net.rollback(res.txId, 'vdsmd went away before confirming the change').catch((err: unknown) => {
          if (!isError(err, Errors.NET_BAD_PARAMS)) ctx.log.error({ err, txId: res.txId }, 'rolling back the change of a vdsmd that went away failed');
        });
      });
    }
    return res;
  },
});

export const networkCommit = defineFunction<{ txId: string }, null>({
  name: 'networkCommit',
  summary: 'keep a pending setupNetworks change (the engine reached the host again)',
  params: { txId: p.required(s.string(), 'the id networkSetup returned') },
  maxTimeoutMs: NETWORK_CALL_MAX_MS,
  async run({ txId }, ctx) {
    await ctx.network().commit(txIdOf(ctx, txId));
    return null;
  },
});

export const networkRollback = defineFunction<{ txId: string; reason: string }, RollbackResult>({
  name: 'networkRollback',
  summary: 'undo a pending setupNetworks change (the connectivity check failed)',
  params: {
    txId: p.required(s.string(), 'the id networkSetup returned'),
    reason: p.required(s.string(), 'why, for the log'),
  },
  maxTimeoutMs: NETWORK_CALL_MAX_MS,
  run: ({ txId, reason }, ctx) => ctx.network().rollback(txIdOf(ctx, txId), reason.slice(0, 200)),
});

export const networkPersist = defineFunction<Record<string, never>, NetConfig>({
  name: 'networkPersist',
  summary: 'save the running network configuration as the safe one (what restore-nets returns to)',
  vdsmName: 'setSafeNetworkConfig',
  params: {},
  run: (_args, ctx) => ctx.network().persist(),
});

export const networkFacts = defineFunction<Record<string, never>, NetworkRawFacts>({
  name: 'networkFacts',
  summary: 'the host\'s links, addresses and routes (ip -json), IPv6 sysctls, NIC speeds and the DHCP clients running',
  vdsmName: 'network_caps',
  params: {},
  run: (_args, ctx) => ctx.network().facts(),
});

export const networkConfigs = defineFunction<Record<string, never>, { running: NetConfig; safe: NetConfig }>({
  name: 'networkConfigs',
  summary: 'the running and the safe network configuration',
  params: {},
  run: (_args, ctx) => ctx.network().configs(),
});

export const networkNameservers = defineFunction<Record<string, never>, string[]>({
  name: 'networkNameservers',
  summary: 'the host\'s nameservers ([vars] net_resolv_conf)',
  params: {},
  run: (_args, ctx) => ctx.network().nameservers(),
});
