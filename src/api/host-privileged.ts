// Host verbs that vdsm carries out through supervdsm: setKsmTune (MOM tunes KSM with it).
import { Errors, wrapError } from '../errors.js';
import type { Supervdsm } from '../supervdsm/privileged.js';
import { s } from './schema.js';
import type { ApiMethodsFactory, MethodSpec } from './method-table.js';

export interface HostPrivilegedDeps {
  supervdsm: Supervdsm;
}

export const apiMethods: ApiMethodsFactory<HostPrivilegedDeps> = (deps) => {
  const methods: MethodSpec[] = [
    {
      name: 'Host.setKsmTune',
      description: 'Set KSM tuning parameters (run, merge_across_nodes, sleep_millisecs, pages_to_scan) in /sys/kernel/mm/ksm, through supervdsm.',
      params: [{ name: 'tuningParams', type: s.map(s.any()), description: 'knob -> integer value (numeric strings and floats are truncated, as vdsm does)' }],
      result: s.bool(),
      resultDescription: 'Error 71 (ksmErr) when a knob is unknown, out of range, or the helper cannot set it.',
      handler: async ({ tuningParams }) => {
        try {
          await deps.supervdsm.call('ksmTune', { tuningParams: tuningParams as Record<string, unknown> });
          return true;
        } catch (err) {
          throw wrapError(Errors.KSM, err);
        }
      },
    },
  ];
  return methods;
};
