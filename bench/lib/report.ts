// The report folder vdsm-bench leaves behind: index.html (one self-contained page: styles inline,
// charts as data: URIs, no script, nothing fetched), report.md (the same for a terminal or a git
// forge), results.jsonl (every case line), compare.md (with --compare), and per suite the folder the
// suite wrote (its report.md, charts, raw data) plus headline.svg drawn from its case lines.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SuiteSpec } from '../suites.js';
import { renderCompareMarkdown, type CaseLine, type Comparison } from './compare.js';
import { escapeHtml, markdownToHtml } from './md-html.js';
import { barChart } from './svg-chart.js';

export interface SuiteOutcome {
  spec: SuiteSpec;
  status: 'ok' | 'failed' | 'skipped';
  /** Why it was skipped, or the end of its stderr when it failed. */
  reason?: string;
  seconds: number;
  cases: CaseLine[];
}

export interface RunMeta {
  version: string;
  started: string;
  seconds: number;
  node: string;
  cpus: number;
  cpuModel: string;
  load1Start: number;
  load1End: number;
  command: string;
  target: string;
  quick: boolean;
}

const STATUS_TEXT = { ok: 'ok', failed: 'FAILED', skipped: 'skipped' } as const;

function headlineSvg(o: SuiteOutcome): string | undefined {
  const metric = o.spec.headline;
  if (!metric) return undefined;
  const bars = o.cases.filter((c) => typeof c[metric] === 'number').map((c) => ({ label: String(c['case'] ?? '?'), value: c[metric] as number }));
  if (bars.length === 0) return undefined;
  return barChart({ title: `${o.spec.name}: ${metric} per case`, unit: metric, bars });
}

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) if (/\.(svg|png)$/i.test(n)) out.set(n, await readFile(join(dir, n)));
  return out;
}

const dataUri = (name: string, data: Buffer): string => `data:${name.toLowerCase().endsWith('.png') ? 'image/png' : 'image/svg+xml'};base64,${data.toString('base64')}`;

function casesTable(cases: readonly CaseLine[]): string {
  const cols = [...new Set(cases.flatMap((c) => Object.keys(c)))].filter((k) => k !== 'suite');
  const cell = (v: unknown): string => escapeHtml(v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return `<div class="table"><table><thead><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>` +
    cases.map((c) => `<tr>${cols.map((k) => `<td>${cell(c[k])}</td>`).join('')}</tr>`).join('') + '</tbody></table></div>';
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
.meta{color:#555;font-size:.9rem}.table{overflow-x:auto}table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}td.num,th.num{text-align:right}
.status-ok{color:#1a7f37;font-weight:bold}.status-failed{color:#c00;font-weight:bold}.status-skipped{color:#8a6d00;font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #eee}pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
code{background:#f6f8fa;padding:0 .2rem}details{margin:.8rem 0}.regression{color:#c00;font-weight:bold}
`;

export async function writeReport(root: string, meta: RunMeta, outcomes: readonly SuiteOutcome[], comparison?: { c: Comparison; name: string }): Promise<void> {
  const all = outcomes.flatMap((o) => o.cases);
  await writeFile(join(root, 'results.jsonl'), all.map((c) => JSON.stringify(c)).join('\n') + (all.length ? '\n' : ''));
  const compareMd = comparison ? renderCompareMarkdown(comparison.c, comparison.name) : undefined;
  if (compareMd) await writeFile(join(root, 'compare.md'), compareMd);

  const metaLine = `vdsm-bench ${meta.version} on ${meta.started}, ${Math.round(meta.seconds)} s; Node ${meta.node}, ${meta.cpus} CPU(s) (${meta.cpuModel}); ` +
    `load1 ${meta.load1Start.toFixed(2)} at start, ${meta.load1End.toFixed(2)} at the end; target: ${meta.target}${meta.quick ? '; --quick' : ''}.`;
  const md: string[] = ['# vdsm-bench report', '', metaLine, '', `Command: \`${meta.command}\``, '',
    '| suite | status | cases | seconds | what it measures |', '|---|---|---:|---:|---|',
    ...outcomes.map((o) => `| [${o.spec.name}](#${o.spec.name}) | ${STATUS_TEXT[o.status]}${o.status === 'skipped' && o.reason ? `: ${o.reason}` : ''} | ${o.cases.length} | ${Math.round(o.seconds)} | ${o.spec.summary} |`), ''];
  if (comparison) md.push(`Comparison with \`${comparison.name}\`: ${comparison.c.regressions.length} regression(s); see [compare.md](compare.md).`, '');

  const html: string[] = [
    '<!doctype html>', '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>vdsm-bench report ${escapeHtml(meta.started)}</title><style>${CSS}</style></head><body>`,
    '<header><h1>vdsm-bench report</h1>', `<p class="meta">${escapeHtml(metaLine)}</p><p class="meta">Command: <code>${escapeHtml(meta.command)}</code></p></header>`,
    '<nav><div class="table"><table id="summary"><thead><tr><th>suite</th><th>status</th><th class="num">cases</th><th class="num">seconds</th><th>what it measures</th></tr></thead><tbody>',
    ...outcomes.map((o) => `<tr data-suite="${escapeHtml(o.spec.name)}"><td><a href="#suite-${escapeHtml(o.spec.name)}">${escapeHtml(o.spec.name)}</a></td><td class="status-${o.status}">${STATUS_TEXT[o.status]}</td><td class="num">${o.cases.length}</td><td class="num">${Math.round(o.seconds)}</td><td>${escapeHtml(o.spec.summary)}</td></tr>`),
    '</tbody></table></div></nav>',
  ];
  if (comparison) {
    html.push(`<section id="compare"><h2>Comparison</h2><p class="${comparison.c.regressions.length ? 'regression' : ''}">${comparison.c.regressions.length} regression(s) against ${escapeHtml(comparison.name)}</p>`,
      markdownToHtml(compareMd!.split('\n').slice(2).join('\n')), '</section>');
  }

  for (const o of outcomes) {
    const dir = join(root, o.spec.name);
    const own = await filesOf(dir);
    // A suite that draws its own charts shows those; otherwise its headline metric per case.
    const svg = own.size === 0 ? headlineSvg(o) : undefined;
    if (svg) await writeFile(join(dir, 'headline.svg'), svg);
    const images = svg ? await filesOf(dir) : own;
    const suiteMd = await readFile(join(dir, 'report.md'), 'utf8').catch(() => undefined);
    md.push(`## ${o.spec.name}`, '', `${o.spec.summary}. Status: **${STATUS_TEXT[o.status]}**${o.reason ? ` (${o.reason.split('\n')[0]})` : ''}, ${o.cases.length} case(s), ${Math.round(o.seconds)} s.`, '');
    if (suiteMd) md.push(`Full report: [${o.spec.name}/report.md](${o.spec.name}/report.md).`, '');
    if (svg) md.push(`![${o.spec.name} ${o.spec.headline}](${o.spec.name}/headline.svg)`, '');
    if (o.cases.length && o.spec.headline) {
      md.push(`| case | ${o.spec.headline} |`, '|---|---:|', ...o.cases.map((c) => `| ${String(c['case'] ?? '?').replace(/\|/g, '\\|')} | ${String(c[o.spec.headline!] ?? '')} |`), '');
    }

    const image = (src: string, alt: string): string => {
      const data = images.get(src);
      return data ? `<img alt="${alt}" src="${dataUri(src, data)}">` : `<span class="missing">[image ${escapeHtml(src)} not found]</span>`;
    };
    html.push(`<section class="suite" id="suite-${escapeHtml(o.spec.name)}" data-suite="${escapeHtml(o.spec.name)}" data-status="${o.status}">`,
      `<h2>${escapeHtml(o.spec.name)}</h2>`, `<p>${escapeHtml(o.spec.summary)}.</p>`,
      `<p>Status: <span class="status-${o.status}">${STATUS_TEXT[o.status]}</span>, ${o.cases.length} case(s), ${Math.round(o.seconds)} s.</p>`);
    if (o.reason) html.push(o.status === 'failed' ? `<pre>${escapeHtml(o.reason)}</pre>` : `<p>${escapeHtml(o.reason)}</p>`);
    if (svg) html.push(`<figure><img alt="${escapeHtml(`${o.spec.name} ${o.spec.headline ?? ''}`)}" src="${dataUri('headline.svg', Buffer.from(svg))}"></figure>`);
    if (suiteMd) html.push('<div class="suite-report">', markdownToHtml(suiteMd, image), '</div>');
    if (o.cases.length) html.push(`<details><summary>All ${o.cases.length} case lines</summary>${casesTable(o.cases)}</details>`);
    html.push('</section>');
  }
  html.push('</body></html>');
  await writeFile(join(root, 'report.md'), md.join('\n'));
  await writeFile(join(root, 'index.html'), html.join('\n'));
}
