// vdsm-client's online help, read from this installation's method table (the same table the agent
// validates calls against and docs/api.md is generated from): namespaces, the verbs of one namespace,
// and one verb's parameters with their types. Works without an agent.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectApiMethods } from '../api/gen-docs.js';
import type { MethodSpec } from '../api/method-table.js';
import { describe } from '../api/schema.js';

/** Every API method this installation knows, sorted by name. */
export async function localMethods(): Promise<MethodSpec[]> {
  const apiDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'api');
  return [...(await collectApiMethods(apiDir)).specs()].sort((a, b) => a.name.localeCompare(b.name));
}

const namespaceOf = (m: MethodSpec): string => m.name.slice(0, m.name.indexOf('.'));
const verbOf = (m: MethodSpec): string => m.name.slice(m.name.indexOf('.') + 1);
const firstSentence = (text: string): string => {
  const m = /^(.*?[.!?])(\s|$)/s.exec(text.trim());
  return (m?.[1] ?? text.trim()).replace(/\s+/g, ' ');
};
/** describe() escapes '|' for Markdown tables; a terminal wants it plain. */
const typeText = (s: Parameters<typeof describe>[0]): string => describe(s).replaceAll('\\|', '|');

function columns(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (i === r.length - 1 ? 0 : r[i]!.length))));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function namespaces(methods: readonly MethodSpec[]): string[] {
  return [...new Set(methods.map(namespaceOf))].sort();
}

/** `vdsm-client` with no verb: the namespaces and how many verbs each has. */
export function renderNamespaces(methods: readonly MethodSpec[]): string {
  const rows = namespaces(methods).map((ns) => [ns, `${methods.filter((m) => namespaceOf(m) === ns).length} verbs`]);
  return `Namespaces (vdsm-client NAMESPACE lists its verbs):\n${columns(rows)}\n`;
}

/** `vdsm-client Host`: every verb of the namespace with the first sentence of its description. */
export function renderVerbs(methods: readonly MethodSpec[], ns: string): string | undefined {
  const verbs = methods.filter((m) => namespaceOf(m) === ns);
  if (verbs.length === 0) return undefined;
  const rows = verbs.map((m) => [verbOf(m), firstSentence(m.description)]);
  return `${ns} verbs (vdsm-client ${ns} VERB -h shows a verb's parameters):\n${columns(rows)}\n`;
}

/** `vdsm-client Host getVMList -h`: the verb's description, parameters with types, and result. */
export function renderVerbHelp(spec: MethodSpec): string {
  const [ns, verb] = [namespaceOf(spec), verbOf(spec)];
  const usage = spec.params.map((p) => (p.optional || p.default !== undefined ? `[${p.name}=VALUE]` : `${p.name}=VALUE`)).join(' ');
  const out = [`usage: vdsm-client [connection options] ${ns} ${verb}${usage ? ` ${usage}` : ''}`, '', spec.description.trim(), ''];
  if (spec.params.length === 0) out.push('No parameters.');
  else {
    out.push('Parameters:');
    const rows = spec.params.map((p) => {
      const req = p.default !== undefined ? `optional, default ${JSON.stringify(p.default)}` : p.optional ? 'optional' : 'required';
      return [p.name, typeText(p.type), req, p.description ? p.description.replace(/\s+/g, ' ') : ''];
    });
    out.push(columns([['NAME', 'TYPE', 'REQUIRED', 'DESCRIPTION'], ...rows]));
  }
  out.push('', `Result: ${typeText(spec.result)}${spec.resultDescription ? ` (${spec.resultDescription.replace(/\s+/g, ' ')})` : ''}`);
  out.push('', 'Values that parse as JSON are sent as JSON (42, true, {"a":1}), anything else as a string; -f FILE reads all parameters as one JSON object.', '');
  return out.join('\n');
}
