// VM.setTicket's device XML (src/virt/graphics-ticket.ts): the live graphics element written back with
// passwd, passwdValidTo and (SPICE only) connected; everything else as libvirt gave it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseXmlTree, attr, child, children } from '../../src/libvirt/xml-tree.js';
import { passwdValidTo, ticketedGraphics } from '../../src/virt/graphics-ticket.js';

const NOW = Date.UTC(2026, 11, 7, 10, 0, 0, 500);

const domain = (devices: string): string => `<domain type='qemu' id='3'><name>g</name><devices><disk type='file' device='disk'/>${devices}</devices></domain>`;
const SPICE = `<graphics type='spice' port='5901' tlsPort='5902' autoport='yes' listen='0' passwdValidTo='2001-01-01T00:00:00'>
      <listen type='address' address='0'/>
      <channel name='main' mode='secure'/>
    </graphics>`;

function graphicsOf(xml: string): Record<string, unknown> {
  return child(parseXmlTree(xml), 'graphics')!;
}

void describe('VM.setTicket device XML', () => {
  void it('takes the first graphics device, keeps its ports, listen and channels, adds passwd and passwdValidTo', () => {
    const t = ticketedGraphics(domain(`${SPICE}<graphics type='vnc' port='5903'/>`), { password: 'pw', ttlS: 120, existingConnAction: 'disconnect' }, NOW)!;
    assert.equal(t.type, 'spice');
    assert.equal(t.validTo, '2026-12-07T10:02:00');
    const g = graphicsOf(t.xml);
    for (const [k, v] of Object.entries({ type: 'spice', port: '5901', tlsPort: '5902', autoport: 'yes', listen: '0', passwd: 'pw', passwdValidTo: '2026-12-07T10:02:00', connected: 'disconnect' })) assert.equal(attr(g, k), v, k);
    assert.equal(attr(child(g, 'listen'), 'address'), '0');
    assert.equal(attr(child(g, 'channel'), 'mode'), 'secure');
  });

  void it('ttl 0 or less removes an earlier expiry; VNC gets no connected attribute', () => {
    for (const ttlS of [0, -1]) {
      const t = ticketedGraphics(domain(SPICE.replace("type='spice'", "type='vnc'")), { password: 'x', ttlS, existingConnAction: 'keep' }, NOW)!;
      const g = graphicsOf(t.xml);
      assert.equal(t.validTo, undefined);
      assert.equal(attr(g, 'passwdValidTo'), undefined);
      assert.equal(attr(g, 'connected'), undefined);
      assert.equal(attr(g, 'passwd'), 'x');
    }
  });

  void it('escapes what XML must escape in the password, so the element cannot be broken out of', () => {
    const password = `a'b"c<d>&e</graphics><graphics type='vnc'`;
    const t = ticketedGraphics(domain("<graphics type='vnc' port='5900'/>"), { password, ttlS: 0 }, NOW)!;
    const tree = parseXmlTree(t.xml);
    assert.equal(attr(graphicsOf(t.xml), 'passwd'), password);
    assert.equal(children(tree, 'graphics').length, 1, 'one graphics element');
    assert.match(t.xml, /^<graphics type="vnc" port="5900" passwd="a&apos;b&quot;c&lt;d&gt;&amp;e&lt;\/graphics&gt;&lt;graphics type=&apos;vnc&apos;"\/?>$/);
  });

  void it('with a graphics type (VM.updateDevice): the first device of that type, none when there is none', () => {
    const xml = domain(`${SPICE}<graphics type='vnc' port='5903' autoport='no'/>`);
    const vnc = ticketedGraphics(xml, { password: 'v', ttlS: 0 }, NOW, 'vnc')!;
    assert.equal(vnc.type, 'vnc');
    assert.equal(attr(graphicsOf(vnc.xml), 'port'), '5903');
    assert.equal(ticketedGraphics(xml, { password: 'v', ttlS: 0 }, NOW, 'spice')!.type, 'spice');
    assert.equal(ticketedGraphics(domain("<graphics type='vnc' port='5900'/>"), { password: 'v', ttlS: 0 }, NOW, 'spice'), undefined);
  });

  void it('no graphics device: undefined (the verb answers error 18)', () => {
    assert.equal(ticketedGraphics(domain(''), { password: 'x', ttlS: 10 }, NOW), undefined);
    assert.equal(ticketedGraphics("<domain type='test'><name>n</name></domain>", { password: 'x', ttlS: 10 }, NOW), undefined);
  });

  void it('passwdValidTo is UTC to the second', () => {
    assert.equal(passwdValidTo(Date.UTC(2026, 0, 31, 23, 59, 59, 999), 1), '2026-02-01T00:00:00');
  });
});
