// A temp dir with a generated node XML for one test; remove() deletes it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureDomains, writeNodeXml, type FixtureDomain, type NodeXmlOptions } from '../../../src/libvirt/fixture.js';

export interface NodeFixture {
  dir: string;
  uri: string;
  domains: FixtureDomain[];
  remove(): Promise<void>;
}

export async function nodeFixture(opts: NodeXmlOptions): Promise<NodeFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'vdsm-libvirt-'));
  const uri = await writeNodeXml(dir, opts);
  return { dir, uri, domains: fixtureDomains(opts), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Resolves with the first value `subscribe` delivers that matches `pred`. */
export function nextMatching<T>(subscribe: (cb: (v: T) => void) => () => void, pred: (v: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const off = subscribe((v) => {
      if (!pred(v)) return;
      off();
      resolve(v);
    });
  });
}
