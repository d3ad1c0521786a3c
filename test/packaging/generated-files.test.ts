// packaging/vdsm.conf and docs/config.md are generated from the schema; this fails when the schema
// changed and they were not regenerated (the commands are in the failure message).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { renderConfigDocs, renderSampleConfig } from '../../src/config/render.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

void describe('generated files', () => {
  void it('packaging/vdsm.conf is the output of vdsm-tool show-default-config', async () => {
    const text = await readFile(join(ROOT, 'packaging/vdsm.conf'), 'utf8');
    assert.ok(text === renderSampleConfig(), 'regenerate: node dist/src/bin/vdsm-tool.js show-default-config > packaging/vdsm.conf');
  });

  void it('docs/config.md is the output of vdsm-tool show-default-config --markdown', async () => {
    const text = await readFile(join(ROOT, 'docs/config.md'), 'utf8');
    assert.ok(text === renderConfigDocs(), 'regenerate: node dist/src/bin/vdsm-tool.js show-default-config --markdown > docs/config.md');
  });
});
