// Every configuration key works or says it does not: a key the code reads nowhere must be marked
// `compat` (inert) in the schema, and a key marked inert must not be read (its docs would lie).
// "Read" means the source outside src/config/ mentions `<section>.<key>` (cfg.vars.ssl,
// config.metrics.enabled, this.config.devel.cpu_profile_enable ...): read keys that way so this
// audit, and a person grepping, can see who uses them.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.js';
import { schemaEntries } from '../../src/config/schema.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function sources(dir: string): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push({ file: relative(ROOT, p), text: await readFile(p, 'utf8') });
  }
  return out;
}

async function readers(): Promise<Map<string, string[]>> {
  const files = [...(await sources(join(ROOT, 'src'))), ...(await sources(join(ROOT, 'workers')))].filter((f) => !f.file.startsWith(join('src', 'config')));
  const found = new Map<string, string[]>();
  for (const { section, key } of schemaEntries()) {
    const re = new RegExp(`\\b${section}\\s*\\??\\.\\s*${key}\\b`);
    found.set(`${section}.${key}`, files.filter((f) => re.test(f.text)).map((f) => f.file));
  }
  return found;
}

void describe('configuration key audit', () => {
  void it('every key is read by the code or marked compat (inert) in the schema', async () => {
    const found = await readers();
    const silent = [...schemaEntries()].filter(({ section, key, spec }) => !spec.compat && found.get(`${section}.${key}`)!.length === 0).map(({ section, key }) => `${section}.${key}`);
    assert.deepEqual(silent, [], `keys nothing reads, not marked compat in src/config/schema.ts: ${silent.join(', ')}`);
  });

  void it('no key marked compat is read (unmark it once it works)', async () => {
    const found = await readers();
    const lying = [...schemaEntries()].filter(({ section, key, spec }) => spec.compat && found.get(`${section}.${key}`)!.length > 0)
      .map(({ section, key }) => `${section}.${key} (read in ${found.get(`${section}.${key}`)!.join(', ')})`);
    assert.deepEqual(lying, [], 'keys marked compat that the code reads');
  });

  void it('setting a compat key says that it has no effect, and who will apply it', async () => {
    const { warnings } = await loadConfig({ configFile: '/nonexistent/vdsm.conf', requireConfigFile: false, dropinDirs: [], overrides: ['vars.vm_sample_jobs_interval=10', 'guest_agent.qga_polling_period=10', 'metrics.queue_size=10'] });
    assert.deepEqual(warnings, ['--set vars.vm_sample_jobs_interval=10: [vars] vm_sample_jobs_interval is set but has no effect: no issue owns it yet (block jobs are not sampled)']);
  });

  void it('the audit sees a real read (the scan is not empty)', async () => {
    const found = await readers();
    assert.ok(found.get('addresses.management_port')!.some((f) => f.endsWith('agent.ts')));
    assert.ok(found.get('vars.ssl')!.length > 0);
  });
});
