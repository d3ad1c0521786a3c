// Managed udev rules (vdsm's add/remove_managed_udev_rule, appropriateIommuGroup, appropriateUSBDevice,
// appropriateHwrngDevice and their removals) and the trigger that makes udev apply one to its device.
// Callers name a kind and identifiers; udev-rules.ts builds the file name and the rule.
import { s } from '../../api/schema.js';
import { requireUnder } from '../path-rules.js';
import { defineFunction, invalidArgument, p, type CallContext } from '../registry.js';
import {
  isManagedRuleName, isRuleDevicePath, RULE_KINDS, ruleFileName, ruleText, targetDevice, targetProblem, type RuleTarget,
} from './udev-rules.js';

const targetParams = {
  kind: p.required(s.enumOf(RULE_KINDS), 'rule family'),
  storageDomain: p.optional(s.string(), 'managed: storage domain UUID'),
  volume: p.optional(s.string(), 'managed: volume UUID'),
  device: p.optional(s.string(), 'managed: the /dev path of the volume'),
  iommuGroup: p.optional(s.int(), 'iommu_group: the group number'),
  bus: p.optional(s.int(), 'usb: bus number'),
  usbDevice: p.optional(s.int(), 'usb: device number'),
  vmId: p.optional(s.string(), 'hwrng: the VM'),
};

function checkTarget(ctx: CallContext, t: RuleTarget, needDevice: boolean): RuleTarget {
  const problem = targetProblem(t);
  if (problem !== undefined) throw invalidArgument(ctx.method, problem.field, problem.reason);
  if (t.kind === 'managed') {
    if (t.device === undefined) {
      if (needDevice) throw invalidArgument(ctx.method, 'device', 'required for kind managed');
    } else {
      requireUnder('device', t.device, ctx.policy.devRoots);
      if (!isRuleDevicePath(t.device)) throw invalidArgument(ctx.method, 'device', 'may hold only letters, digits and ._+:@- between slashes');
    }
  } else if (t.device !== undefined) {
    throw invalidArgument(ctx.method, 'device', `not used by kind ${t.kind}`);
  }
  return t;
}

export const udevAddRule = defineFunction<RuleTarget, { path: string; rule: string }>({
  name: 'udevAddRule',
  summary: 'write one managed udev rule (managed volume, IOMMU group, USB device, host RNG) into udev_rules_dir',
  vdsmName: 'add_managed_udev_rule, appropriateIommuGroup, appropriateUSBDevice, appropriateHwrngDevice',
  params: targetParams,
  async run(args, ctx) {
    const t = checkTarget(ctx, args, true);
    let symlink = false;
    if (t.kind === 'managed') symlink = (await ctx.fs.stat(t.device!, ctx.policy.devRoots)).kind === 'link';
    const o = ctx.policy.diskImageOwner;
    const rule = ruleText(t, { volumeOwner: o.user, qemuUser: o.qemuUser, qemuGroup: o.group }, symlink);
    const dir = ctx.policy.udevRulesDir;
    const name = ruleFileName(t);
    const r = await ctx.exclusive(`udev:${name}`, () => ctx.fs.replace(dir, [dir], name, rule, 0o644));
    ctx.log.info({ path: r.path, rule: rule.trim() }, 'udev rule written');
    return { path: r.path, rule };
  },
});

export const udevRemoveRule = defineFunction<RuleTarget, { path: string; existed: boolean }>({
  name: 'udevRemoveRule',
  summary: 'remove one managed udev rule (no error when it is already gone)',
  vdsmName: 'remove_managed_udev_rule, rmAppropriateIommuGroup, rmAppropriateUSBDevice, rmAppropriateHwrngDevice',
  params: targetParams,
  async run(args, ctx) {
    const t = checkTarget(ctx, args, false);
    const dir = ctx.policy.udevRulesDir;
    const name = ruleFileName(t);
    const r = await ctx.exclusive(`udev:${name}`, () => ctx.fs.unlink(dir, [dir], name));
    if (r.existed) ctx.log.info({ path: `${dir}/${name}` }, 'udev rule removed');
    return { path: `${dir}/${name}`, existed: r.existed };
  },
});

export const udevListRules = defineFunction<Record<string, never>, string[]>({
  name: 'udevListRules',
  summary: 'the managed rule files present in udev_rules_dir',
  params: {},
  async run(_args, ctx) {
    const dir = ctx.policy.udevRulesDir;
    return (await ctx.fs.list(dir, [dir])).filter(isManagedRuleName);
  },
});

export const udevTrigger = defineFunction<RuleTarget, { device: string; syspath: string; action: string }>({
  name: 'udevTrigger',
  summary: "send a 'change' uevent for a rule's device so udev applies the rule now (udevadm trigger for one device)",
  vdsmName: 'trigger_managed_udev_rule, udevTrigger',
  params: targetParams,
  async run(args, ctx) {
    const t = checkTarget(ctx, args, true);
    const device = targetDevice(t)!;
    const r = await ctx.fs.triggerDevice(device, ctx.policy.devRoots, 'change');
    ctx.log.info({ device, syspath: r.syspath }, 'uevent sent');
    return { device: r.device, syspath: r.syspath, action: r.action };
  },
});
