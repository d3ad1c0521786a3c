// Hardware identity from DMI (dmidecode, as vdsm's getHardwareInfo) and the debugfs CPU mitigation
// switches (vdsm's get_pti/get_ibpb/get_ibrs): both need root, so vdsmd asks for them here.
import { Errors, isError, vdsmError } from '../../errors.js';
import { commandFailed } from '../command-runner.js';
import { hardwareInfoFromDmidecode, type HardwareInfo } from '../dmidecode.js';
import { defineFunction, type CallContext } from '../registry.js';

/** Where Linux exposes the SMBIOS tables it found (absent on hosts without them). */
export const DMI_TABLES_DIR = '/sys/firmware/dmi/tables';

async function dmiTablesPresent(ctx: CallContext): Promise<boolean> {
  try {
    await ctx.fs.stat(DMI_TABLES_DIR, ['/sys/firmware']);
    return true;
  } catch (err) {
    if (isError(err, Errors.SVDSM_OS_ERROR)) return false;
    throw err;
  }
}

export const getHardwareInfo = defineFunction<Record<string, never>, HardwareInfo>({
  name: 'getHardwareInfo',
  summary: 'DMI System Information (manufacturer, product, version, serial, UUID, family) through dmidecode',
  vdsmName: 'getHardwareInfo',
  params: {},
  async run(_args, ctx) {
    const tables = await dmiTablesPresent(ctx);
    const r = await ctx.run('dmidecode', ['-t', '1']);
    const info = r.exitCode === 0 ? hardwareInfoFromDmidecode(r.stdout) : undefined;
    if (info !== undefined) return info;
    if (!tables || r.exitCode === 0) {
      const said = (r.stderr.trim() || r.stdout.trim().split('\n').pop() || '').slice(0, 300);
      throw vdsmError(Errors.SVDSM_NO_DMI, {
        reason: tables ? 'dmidecode found no System Information structure' : `${DMI_TABLES_DIR} is absent: the firmware gave the kernel no SMBIOS tables (usual in containers and some virtual machines)`,
        dmidecode: said,
      });
    }
    throw commandFailed(r, 'reading DMI tables');
  },
});

export interface KernelFeatures {
  /** 1 on, 0 off, -1 when the kernel does not expose the switch (vdsm's convention). */
  pti: number;
  ibpb: number;
  ibrs: number;
}

const DEBUGFS_X86 = '/sys/kernel/debug/x86';

export const getKernelFeatures = defineFunction<Record<string, never>, KernelFeatures>({
  name: 'getKernelFeatures',
  summary: 'the x86 debugfs switches pti_enabled, ibpb_enabled and ibrs_enabled (-1 when absent)',
  vdsmName: 'get_pti, get_ibpb, get_ibrs',
  params: {},
  async run(_args, ctx) {
    const one = async (name: string): Promise<number> => {
      try {
        const v = Number.parseInt((await ctx.fs.read(`${DEBUGFS_X86}/${name}_enabled`, [DEBUGFS_X86], 64)).trim(), 10);
        return Number.isFinite(v) ? v : -1;
      } catch (err) {
        if (isError(err, Errors.SVDSM_OS_ERROR)) return -1;
        throw err;
      }
    };
    const [pti, ibpb, ibrs] = await Promise.all([one('pti'), one('ibpb'), one('ibrs')]);
    return { pti, ibpb, ibrs };
  },
});
