// Minimal Markdown building for bench reports.

export function mdTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cell = (v: string | number): string => String(v).replace(/\|/g, '\\|');
  return [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** Format a number for a table: fixed decimals, '-' for missing. */
export function fmt(v: number | undefined | null, digits = 1): string {
  return v === undefined || v === null || Number.isNaN(v) ? '-' : v.toFixed(digits);
}
