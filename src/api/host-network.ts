// Host networking verbs: setupNetworks (with the connectivity check and rollback), setSafeNetworkConfig,
// getNetworkCapabilities and getNetworkStatistics. Attribute dicts are passed through as the engine
// sends them (strings for booleans and numbers); src/network/ canonicalizes and checks them with vdsm's
// network error codes (21-31, 10 when the connectivity check fails).
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';
import type { NetworkPort } from './ports.js';

export interface HostNetworkDeps {
  network: NetworkPort;
}

const attrs = s.map(s.map(s.any()));

export const apiMethods: ApiMethodsFactory<HostNetworkDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.setupNetworks',
      description: "Add, change or remove networks and bonds as one transaction (Linux bridges, VLANs and bonds through iproute2). Any failure rolls the whole change back. With `options.connectivityCheck` (default true) the change is kept only if the engine reaches the host again (Host.confirmConnectivity, Host.ping or any request from a non-loopback peer) within `options.connectivityTimeout` seconds (default 4); otherwise it is rolled back and the call fails with code 10. `options.commitOnSuccess` also makes the result the safe configuration.",
      params: [
        { name: 'networks', type: attrs, default: {}, description: 'Network name -> attributes (nic or bonding, vlan, bridged, stp, mtu, bootproto, ipaddr, netmask or prefix, gateway, ipv6addr, ipv6gateway, ipv6autoconf, dhcpv6, defaultRoute, nameservers, switch, custom) or {remove: true}.' },
        { name: 'bondings', type: attrs, default: {}, description: 'Bond name (bond*) -> {nics, options, hwaddr, switch} or {remove: true}.' },
        { name: 'options', type: s.map(s.any()), default: {}, description: 'connectivityCheck, connectivityTimeout (seconds), commitOnSuccess.' },
      ],
      result: s.bool(),
      resultDescription: '`true`; vdsm network error codes on failure (21 bad parameters, 22 bad address, 23 unknown NIC, 24 NIC in use, 25 bad bonding, 26 bad VLAN, 27 bad network name, 29 the change failed and was rolled back, 31 bond in use, 10 connectivity check failed).',
      handler: async ({ networks, bondings, options }) => {
        await deps.network.setupNetworks(networks as Record<string, unknown>, bondings as Record<string, unknown>, options as Record<string, unknown>);
        return true;
      },
    },
    {
      name: 'Host.setSafeNetworkConfig',
      description: 'Persist the running network configuration as the safe one: `vdsm-tool restore-nets` (run at boot before vdsmd) brings the host back to it.',
      params: [],
      result: s.bool(),
      resultDescription: 'Always `true`.',
      handler: async () => {
        await deps.network.setSafeNetworkConfig();
        return true;
      },
    },
    {
      name: 'Host.getNetworkCapabilities',
      description: 'The network part of Host.getCapabilities: nics, bondings, vlans, bridges, networks, nameservers, supportsIPv6, netConfigDirty.',
      params: [],
      result: s.named('NetworkCapabilities', s.object({
        nics: s.map(s.any()), bondings: s.map(s.any()), vlans: s.map(s.any()), bridges: s.map(s.any()), networks: s.map(s.any()),
        nameservers: s.array(s.string()), supportsIPv6: s.bool(),
      })),
      handler: () => deps.network.caps(),
    },
    {
      name: 'Host.getNetworkStatistics',
      description: "Per-interface counters (vdsm's netstats): rx, tx, rxDropped, txDropped, rxErrors, txErrors, speed (strings), state, sampleTime, plus rxRate/txRate (percent of the link speed over the last sampling interval) and the dropped totals.",
      params: [],
      result: s.named('NetworkStatistics', s.object({ network: s.map(s.map(s.any())), rxDropped: s.string(), txDropped: s.string() })),
      handler: () => deps.network.statistics(),
    },
  ];
  return methods;
};
