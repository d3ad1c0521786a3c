// A small hand-written SVG line chart: stacked panels sharing an x axis, each with its own series,
// linear axes with "nice" ticks, a legend. No dependencies; good enough for bench reports.

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color: string;
  /** 'line' (default) or 'dots' for scattered samples such as per-task latencies. */
  style?: 'line' | 'dots';
  /** Dashed line, e.g. for a limit. */
  dashed?: boolean;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: readonly Series[];
  /** Fixed y range; derived from the data when absent. */
  yMax?: number;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  panels: readonly Panel[];
  width?: number;
  panelHeight?: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round numbers for axis ticks: about `n` ticks from 0 to max. */
export function niceTicks(max: number, n = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

export function lineChart(opts: ChartOptions): string {
  const width = opts.width ?? 960;
  const ph = opts.panelHeight ?? 260;
  const m = { left: 70, right: 170, top: 60, bottom: 50, gap: 45 };
  const plotW = width - m.left - m.right;
  const height = m.top + opts.panels.length * (ph + m.gap) - m.gap + m.bottom;
  let xMax = 0;
  for (const p of opts.panels) for (const s of p.series) for (const [x] of s.points) xMax = Math.max(xMax, x);
  const xTicks = niceTicks(xMax, 10);
  const xTop = xTicks[xTicks.length - 1]!;
  const X = (x: number): number => m.left + (x / xTop) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  opts.panels.forEach((p, i) => {
    const top = m.top + i * (ph + m.gap);
    let yMaxData = 0;
    for (const s of p.series) for (const [, y] of s.points) yMaxData = Math.max(yMaxData, y);
    const yTicks = niceTicks(p.yMax ?? yMaxData, 5);
    const yTop = yTicks[yTicks.length - 1]!;
    const Y = (y: number): number => top + ph - (Math.min(y, yTop) / yTop) * ph;
    out.push(`<text x="${m.left}" y="${top - 8}" font-weight="bold">${esc(p.title)}</text>`);
    for (const t of yTicks) {
      out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${m.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
    }
    for (const t of xTicks) {
      out.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${top}" y2="${top + ph}" stroke="#f0f0f0"/>`);
      if (i === opts.panels.length - 1) out.push(`<text x="${X(t).toFixed(1)}" y="${top + ph + 16}" text-anchor="middle">${t}</text>`);
    }
    out.push(`<rect x="${m.left}" y="${top}" width="${plotW}" height="${ph}" fill="none" stroke="#888"/>`);
    out.push(`<text transform="translate(${m.left - 50},${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
    p.series.forEach((s, j) => {
      if (s.style === 'dots') {
        for (const [x, y] of s.points) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="1.6" fill="${s.color}" fill-opacity="0.7"/>`);
      } else if (s.points.length) {
        const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join('');
        out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      }
      const ly = top + 14 + j * 18;
      out.push(`<rect x="${m.left + plotW + 12}" y="${ly - 9}" width="12" height="10" fill="${s.color}"/>`);
      out.push(`<text x="${m.left + plotW + 30}" y="${ly}">${esc(s.name)}</text>`);
    });
  });
  const bottom = m.top + opts.panels.length * (ph + m.gap) - m.gap;
  out.push(`<text x="${m.left + plotW / 2}" y="${bottom + 36}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

export interface Bar {
  label: string;
  value: number;
  color?: string;
  /** Text after the bar (default: the value). */
  note?: string;
}

/** Horizontal bars, one per labelled value (case names can be long); a shared linear axis from 0. */
export function barChart(opts: { title: string; unit: string; bars: readonly Bar[]; width?: number }): string {
  const width = opts.width ?? 960;
  const rowH = 22;
  const labelW = Math.min(420, 16 + 7 * Math.max(8, ...opts.bars.map((b) => b.label.length)));
  const m = { left: labelW, right: 110, top: 50, bottom: 40 };
  const plotW = width - m.left - m.right;
  const height = m.top + opts.bars.length * rowH + m.bottom;
  const max = Math.max(0, ...opts.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const ticks = niceTicks(max, 6);
  const top = ticks[ticks.length - 1]!;
  const X = (v: number): number => m.left + (Math.max(0, v) / top) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  const bottom = m.top + opts.bars.length * rowH;
  for (const t of ticks) {
    out.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${m.top - 4}" y2="${bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${X(t).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  opts.bars.forEach((b, i) => {
    const y = m.top + i * rowH;
    const v = Number.isFinite(b.value) ? b.value : 0;
    out.push(`<text x="${m.left - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${m.left}" y="${y + 4}" width="${(X(v) - m.left).toFixed(1)}" height="${rowH - 8}" fill="${b.color ?? '#1f77b4'}"/>`);
    out.push(`<text x="${(X(v) + 6).toFixed(1)}" y="${y + 15}">${esc(b.note ?? String(b.value))}</text>`);
  });
  out.push(`<text x="${m.left + plotW / 2}" y="${bottom + 34}" text-anchor="middle">${esc(opts.unit)}</text>`);
  out.push('</svg>');
  return out.join('\n');
}
