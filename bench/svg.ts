/**
 * Small SVG charts for the benchmark report, written by hand: grouped bars with whiskers
 * (median and spread) and lines on log or linear axes. No dependencies, no browser.
 */

const COLORS = ['#1f77b4', '#d62728', '#7f7f7f', '#2ca02c', '#9467bd', '#ff7f0e'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" step (1, 2, 5 x 10^k) for about `ticks` ticks up to `max`. */
function niceStep(max: number, ticks = 5): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return +v.toFixed(2) + '';
}

/** Size and margins of a chart, and its plot area inside them. */
interface Frame {
  W: number;
  H: number;
  m: { top: number; right: number; bottom: number; left: number };
  plotW: number;
  plotH: number;
}

function frame(c: { width?: number; height?: number }, m: Frame['m']): Frame {
  const W = c.width ?? 720;
  const H = c.height ?? 380;
  return { W, H, m, plotW: W - m.left - m.right, plotH: H - m.top - m.bottom };
}

/** The opening of a chart's SVG (background, title) and its horizontal grid with labels at `ticks`. */
function openChart(f: Frame, title: string, ticks: number[], y: (v: number) => number): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" ${FONT} font-size="12">`,
    `<rect width="${f.W}" height="${f.H}" fill="white"/>`,
    `<text x="${f.W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const v of ticks) {
    out.push(`<line x1="${f.m.left}" x2="${f.W - f.m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f.m.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#444">${fmt(v)}</text>`);
  }
  return out;
}

/** 0, step, 2 step... up to `top`. */
function linearTicks(step: number, top: number): number[] {
  const ticks: number[] = [];
  for (let v = 0; v <= top + 1e-9; v += step) ticks.push(v);
  return ticks;
}

export interface Bar {
  series: string;
  value: number;
  /** Whisker ends (e.g. min and max of the runs); omitted: no whisker. */
  lo?: number;
  hi?: number;
  /** Text above the bar; default the value. */
  label?: string;
}

export interface BarChart {
  title: string;
  yLabel: string;
  groups: { label: string; bars: Bar[] }[];
  /** A horizontal reference line per group (e.g. a target), drawn dashed. */
  refLines?: { group: string; value: number; label: string }[];
  width?: number;
  height?: number;
}

export function barChart(c: BarChart): string {
  const f = frame(c, { top: 48, right: 20, bottom: 70, left: 64 });
  const { W, H, m, plotW, plotH } = f;
  const series = [...new Set(c.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const max = Math.max(1e-9, ...c.groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.hi ?? 0))), ...(c.refLines ?? []).map((r) => r.value)) * 1.12;
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const y = (v: number) => m.top + plotH - (v / top) * plotH;
  const groupW = plotW / c.groups.length;
  const barW = Math.min(56, (groupW * 0.8) / Math.max(1, series.length));
  const out = openChart(f, c.title, linearTicks(step, top), y);
  out.push(`<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(c.yLabel)}</text>`);
  c.groups.forEach((g, gi) => {
    const gx = m.left + gi * groupW + groupW / 2;
    const x0 = gx - (series.length * barW) / 2;
    for (const b of g.bars) {
      const si = series.indexOf(b.series);
      const x = x0 + si * barW + 2;
      const w = barW - 4;
      out.push(`<rect x="${x}" y="${y(b.value)}" width="${w}" height="${Math.max(0, y(0) - y(b.value))}" fill="${COLORS[si % COLORS.length]}"/>`);
      if (b.lo !== undefined && b.hi !== undefined) {
        const cx = x + w / 2;
        out.push(`<line x1="${cx}" x2="${cx}" y1="${y(b.lo)}" y2="${y(b.hi)}" stroke="black"/>`);
        out.push(`<line x1="${cx - 5}" x2="${cx + 5}" y1="${y(b.lo)}" y2="${y(b.lo)}" stroke="black"/>`);
        out.push(`<line x1="${cx - 5}" x2="${cx + 5}" y1="${y(b.hi)}" y2="${y(b.hi)}" stroke="black"/>`);
      }
      out.push(`<text x="${x + w / 2}" y="${Math.min(y(b.value), b.hi !== undefined ? y(b.hi) : Infinity) - 5}" text-anchor="middle" font-size="11">${esc(b.label ?? fmt(b.value))}</text>`);
    }
    for (const r of (c.refLines ?? []).filter((r) => r.group === g.label)) {
      out.push(`<line x1="${gx - groupW * 0.45}" x2="${gx + groupW * 0.45}" y1="${y(r.value)}" y2="${y(r.value)}" stroke="#2ca02c" stroke-width="2" stroke-dasharray="6 4"/>`);
      out.push(`<text x="${gx + groupW * 0.45}" y="${y(r.value) - 4}" text-anchor="end" font-size="11" fill="#2ca02c">${esc(r.label)}</text>`);
    }
    out.push(`<text x="${gx}" y="${m.top + plotH + 18}" text-anchor="middle">${esc(g.label)}</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  legend(out, series, m.left, H - 22);
  out.push('</svg>');
  return out.join('\n');
}

function legend(out: string[], series: string[], x0: number, yy: number): void {
  let x = x0;
  series.forEach((s, i) => {
    out.push(`<rect x="${x}" y="${yy - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${x + 16}" y="${yy}">${esc(s)}</text>`);
    x += 28 + s.length * 7;
  });
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: { x: number; y: number }[] }[];
  logX?: boolean;
  logY?: boolean;
  /** Dashed horizontal lines (targets). */
  refLines?: { value: number; label: string }[];
  width?: number;
  height?: number;
}

export function lineChart(c: LineChart): string {
  const f = frame(c, { top: 48, right: 24, bottom: 76, left: 72 });
  const { W, H, m, plotW, plotH } = f;
  const xs = c.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = [...c.series.flatMap((s) => s.points.map((p) => p.y)), ...(c.refLines ?? []).map((r) => r.value)].filter((v) => v > 0);
  const tx = (v: number) => (c.logX ? Math.log10(v) : v);
  const ty = (v: number) => (c.logY ? Math.log10(v) : v);
  let xMin = Math.min(...xs.map(tx));
  let xMax = Math.max(...xs.map(tx));
  if (xMin === xMax) [xMin, xMax] = [xMin - 1, xMax + 1];
  let yMin: number;
  let yMax: number;
  let yTicks: number[];
  if (c.logY) {
    yMin = Math.floor(Math.log10(Math.min(...ys)));
    yMax = Math.ceil(Math.log10(Math.max(...ys)));
    if (yMin === yMax) yMax++;
    yTicks = [];
    for (let e = yMin; e <= yMax; e++) yTicks.push(10 ** e);
  } else {
    yMin = 0;
    const step = niceStep(Math.max(...ys) * 1.1);
    yMax = Math.ceil((Math.max(...ys) * 1.1) / step) * step;
    yTicks = linearTicks(step, yMax);
  }
  const px = (v: number) => m.left + ((tx(v) - xMin) / (xMax - xMin)) * plotW;
  const py = (v: number) => m.top + plotH - ((ty(v) - yMin) / (yMax - yMin)) * plotH;
  const out = openChart(f, c.title, yTicks, py);
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${m.top}" y2="${m.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px(v)}" y="${m.top + plotH + 16}" text-anchor="middle" fill="#444">${fmt(v)}</text>`);
  }
  out.push(`<text x="${m.left + plotW / 2}" y="${m.top + plotH + 36}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  for (const r of c.refLines ?? []) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${py(r.value)}" y2="${py(r.value)}" stroke="#2ca02c" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${W - m.right - 4}" y="${py(r.value) - 4}" text-anchor="end" font-size="11" fill="#2ca02c">${esc(r.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')}"/>`);
    for (const p of pts) {
      out.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="3.5" fill="${color}"/>`);
      out.push(`<text x="${px(p.x) + 6}" y="${py(p.y) - 6}" font-size="11" fill="${color}">${fmt(p.y)}</text>`);
    }
  });
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  legend(out, c.series.map((s) => s.name), m.left, H - 14);
  out.push('</svg>');
  return out.join('\n');
}
