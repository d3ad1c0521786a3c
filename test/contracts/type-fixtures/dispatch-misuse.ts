// Compiled by test/contracts/typed-door.test.ts, never by the build: each line marked `error:` must
// fail to compile, and nothing else may.
import type { Dispatcher } from '../../../src/contracts/dispatcher.js';

export async function misuse(ex: Dispatcher): Promise<void> {
  await ex.dispatch('libvirt.lookupByUUID', { conn: 1, uuid: 'a' }); // fine: the control line
  await ex.dispatch('libvirt.lookupByUUId', { conn: 1, uuid: 'a' }); // error: misspelt operation
  await ex.dispatch('libvirt.lookupByUUID', { conn: 1, uid: 'a' }); // error: misspelt argument
  await ex.dispatch('libvirt.suspend', { conn: 1 }); // error: missing argument
  await ex.dispatch('libvirt.setMemoryFlags', { conn: 1, uuid: 'a', memoryKiB: '1024' }); // error: wrong argument type
  await ex.dispatch('host.sample', undefined); // error: arguments required
  const xml: number = await ex.dispatch('libvirt.xmlDesc', { conn: 1, uuid: 'a' }); // error: the result is a string
  const stats = await ex.dispatch('sampling.bulkStats', { conn: 1, stats: 0, flags: 0 });
  stats.unresponsive.push(xml.toString());
  stats.records.nothing?.toFixed(); // error: records hold objects, not numbers
}
