// libvirt's XML documents (domain, capabilities, domain capabilities) read as plain trees: every element
// is an array of children, attributes are '@_name', text is '#text'. Values stay strings.
import { XMLParser } from 'fast-xml-parser';

export type XNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (_name, _jpath, _leaf, isAttribute) => !isAttribute,
});

/** Text or an attribute value (either quote) written into XML by hand. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function parseXmlTree(xml: string): XNode {
  return parser.parse(xml) as XNode;
}

/** The `name` children of a node (a text-only child becomes `{ '#text': ... }`). */
export function children(node: XNode | undefined, name: string): XNode[] {
  const v = node?.[name];
  if (!Array.isArray(v)) return [];
  return v.map((c) => (typeof c === 'object' && c !== null ? (c as XNode) : { '#text': String(c) }));
}

export function child(node: XNode | undefined, name: string): XNode | undefined {
  return children(node, name)[0];
}

export function attr(node: XNode | undefined, name: string): string | undefined {
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

/** Text content: undefined for a missing node, '' for an empty one. */
export function text(node: XNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  const v = node['#text'];
  return typeof v === 'string' ? v : v === undefined ? '' : String(v);
}
