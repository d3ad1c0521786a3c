// The Markdown the suites write (headings, paragraphs, lists, pipe tables, fenced code, inline code,
// bold, italics, links, images) as HTML for the report page. Images that name a file next to the
// report are inlined as data: URIs, so the page stays one self-contained file. Everything else is
// escaped: a report can never inject markup into the page.

export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Inline markup of one line of text (already split into blocks). */
function inline(text: string, image: (src: string, alt: string) => string): string {
  const out: string[] = [];
  // Code spans first: their content is literal.
  const parts = text.split(/(`[^`]+`)/);
  for (const part of parts) {
    if (part.startsWith('`') && part.endsWith('`') && part.length > 1) {
      out.push(`<code>${escapeHtml(part.slice(1, -1))}</code>`);
      continue;
    }
    let s = escapeHtml(part);
    s = s.replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (_m, alt: string, src: string) => image(src, alt));
    s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, t: string, href: string) => (/^(https?:|#|[\w./-]+$)/.test(href) ? `<a href="${href}">${t}</a>` : t));
    s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
    s = s.replace(/(^|[\s(])\*([^*\s][^*]*)\*(?=[\s).,;:]|$)/g, '$1<em>$2</em>');
    out.push(s);
  }
  return out.join('');
}

const splitRow = (line: string): string[] => {
  const cells: string[] = [];
  let cur = '';
  const body = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\' && body[i + 1] === '|') { cur += '|'; i++; } else if (body[i] === '|') { cells.push(cur.trim()); cur = ''; } else cur += body[i];
  }
  cells.push(cur.trim());
  return cells;
};

/**
 * Render `md`. `image(src, alt)` returns the <img> (or other) markup for an image reference; the default
 * keeps the reference as a plain link-free img.
 */
export function markdownToHtml(md: string, image: (src: string, alt: string) => string = (src, alt) => `<img src="${src}" alt="${alt}">`): string {
  const lines = md.replace(/\r\n/g, '\n').split('\n');
  const html: string[] = [];
  let para: string[] = [];
  const flush = (): void => {
    if (para.length) html.push(`<p>${inline(para.join(' '), image)}</p>`);
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^```/.test(line)) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]!); i++) code.push(lines[i]!);
      html.push(`<pre><code>${escapeHtml(code.join('\n'))}</code></pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      // Suite reports start at '#': inside a suite's section they become h3 and below.
      const level = Math.min(6, h[1]!.length + 2);
      html.push(`<h${level}>${inline(h[2]!, image)}</h${level}>`);
      continue;
    }
    if (/^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1]!)) {
      flush();
      const head = splitRow(line);
      const aligns = splitRow(lines[i + 1]!).map((c) => (c.endsWith(':') ? ' class="num"' : ''));
      i += 1;
      const rows: string[][] = [];
      while (i + 1 < lines.length && /^\s*\|/.test(lines[i + 1]!)) rows.push(splitRow(lines[++i]!));
      html.push('<div class="table"><table><thead><tr>' + head.map((c, k) => `<th${aligns[k] ?? ''}>${inline(c, image)}</th>`).join('') + '</tr></thead><tbody>' +
        rows.map((r) => '<tr>' + r.map((c, k) => `<td${aligns[k] ?? ''}>${inline(c, image)}</td>`).join('') + '</tr>').join('') + '</tbody></table></div>');
      continue;
    }
    if (/^\s*[-*]\s+/.test(line)) {
      flush();
      const items: string[] = [];
      let cur = line.replace(/^\s*[-*]\s+/, '');
      for (; i + 1 < lines.length; i++) {
        const next = lines[i + 1]!;
        if (/^\s*[-*]\s+/.test(next)) { items.push(cur); cur = next.replace(/^\s*[-*]\s+/, ''); } else if (/^\s{2,}\S/.test(next)) cur += ` ${next.trim()}`; else break;
      }
      items.push(cur);
      html.push(`<ul>${items.map((it) => `<li>${inline(it, image)}</li>`).join('')}</ul>`);
      continue;
    }
    if (line.trim() === '') flush();
    else para.push(line.trim());
  }
  flush();
  return html.join('\n');
}
