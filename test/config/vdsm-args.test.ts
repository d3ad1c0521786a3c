// validate-config and show-config read the unit's VDSM_ARGS (environment, else /etc/sysconfig/vdsm or
// --sysconfig FILE) so they check the configuration vdsmd.service really starts with; the file is parsed
// as systemd's EnvironmentFile= and the words split as an unquoted $VDSM_ARGS in ExecStart=.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { mergeArgs, parseEnvironmentFile, splitVdsmArgs } from '../../src/config/vdsm-args.js';
import { tempTree, type TempTree } from './temp-tree.js';

const TOOL = fileURLToPath(new URL('../../src/bin/vdsm-tool.js', import.meta.url));

function tool(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env };
  delete base['VDSM_ARGS'];
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], { timeout: 30_000, env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

void it('parses an EnvironmentFile as systemd does: comments, quotes, escapes, continued lines', () => {
  const env = parseEnvironmentFile([
    '# comment', '; also a comment', '', 'VDSM_ARGS="--set vars.log_level=debug \\"x\\""',
    "  NODE_OPTIONS = '--max-old-space-size=512'", 'LONG=a \\', 'b', 'not an assignment',
  ].join('\n'));
  assert.deepEqual(env, { VDSM_ARGS: '--set vars.log_level=debug "x"', NODE_OPTIONS: '--max-old-space-size=512', LONG: 'a b' });
  assert.deepEqual(splitVdsmArgs('  --profile  embedded\t--set a.b=c '), ['--profile', 'embedded', '--set', 'a.b=c']);
  assert.deepEqual(mergeArgs({ profile: 'dev', set: ['a.b=1'], config: '/x' }, { set: ['a.b=2'], profile: 'embedded' }), { config: '/x', profile: 'embedded', set: ['a.b=1', 'a.b=2'] });
});

void describe('vdsm-tool with VDSM_ARGS', () => {
  let tree: TempTree;
  let sysconfig: string;
  let conf: string;
  before(async () => {
    tree = await tempTree();
    conf = await tree.write('vdsm.conf', '[vars]\nlog_level = warn\n');
    sysconfig = await tree.write('sysconfig/vdsm', `# as packaging/sysconfig/vdsm\nVDSM_ARGS="--config ${conf} --profile embedded --set addresses.management_port=54399"\n`);
  });
  after(async () => { await tree.remove(); });

  void it('show-config applies VDSM_ARGS from the sysconfig file and says so', async () => {
    const r = await tool(['show-config', '--sysconfig', sysconfig, '--changed']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^note: applying VDSM_ARGS in ${sysconfig}: --config ${conf} --profile embedded --set addresses\\.management_port=54399$`, 'm'));
    assert.match(r.stdout, /^management_port = 54399 +; --set addresses\.management_port=54399$/m);
    assert.match(r.stdout, /^management_ip = 127\.0\.0\.1 +; profile/m);
    assert.match(r.stdout, /^log_level = warn +; .*vdsm\.conf:2/m);
  });

  void it('the verb\'s own options go after VDSM_ARGS; the environment wins over the file; --no-vdsm-args ignores both', async () => {
    const own = await tool(['show-config', '--sysconfig', sysconfig, '--set', 'addresses.management_port=54400', '--profile', 'dev', '--changed']);
    assert.match(own.stdout, /^management_port = 54400 +; --set addresses\.management_port=54400$/m);
    assert.match(own.stdout, /^ssl = false +; profile/m);
    const env = await tool(['show-config', '--sysconfig', sysconfig, '--changed'], { VDSM_ARGS: '--set addresses.management_port=54401' });
    assert.match(env.stderr, /note: applying VDSM_ARGS from the environment: --set addresses\.management_port=54401/);
    assert.match(env.stdout, /^management_port = 54401 /m);
    assert.doesNotMatch(env.stdout, /^management_ip = 127\.0\.0\.1/m);
    const none = await tool(['show-config', '--sysconfig', sysconfig, '--no-vdsm-args', '--changed'], { VDSM_ARGS: '--set addresses.management_port=1' });
    assert.doesNotMatch(none.stdout, /^management_port/m);
    assert.equal(none.stderr, '');
  });

  void it('validate-config fails on a bad value or an option vdsmd would not accept in VDSM_ARGS', async () => {
    const bad = await tool(['validate-config', '--no-vdsm-args'], {});
    assert.equal(bad.code, 0, bad.stderr);
    const badValue = await tool(['validate-config'], { VDSM_ARGS: '--set addresses.management_port=99999' });
    assert.equal(badValue.code, 1);
    assert.match(badValue.stderr, /management_port/);
    const badOption = await tool(['validate-config'], { VDSM_ARGS: '--log-level debug' });
    assert.equal(badOption.code, 1);
    assert.match(badOption.stderr, /VDSM_ARGS from the environment.*Unknown option '--log-level'.*vdsmd accepts --config, --set and --profile/s);
    const missing = await tool(['validate-config', '--sysconfig', `${sysconfig}.nope`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*sysconfig\/vdsm\.nope/);
  });
});
