// Inline SVG line charts over time: one per metric, several series each.
import { h, s } from './dom.js';

export interface ChartSeries {
  key: string;
  label: string;
  color: string;
}

export interface ChartInput {
  title: string;
  unit?: string;
  series: ChartSeries[];
  /** Oldest first; a null value is a gap. */
  points: { t: number; values: Record<string, number | null> }[];
}

const W = 560;
const H = 180;
const PAD = { l: 44, r: 12, t: 10, b: 24 };

/** A top for 4 grid steps of a round size (1, 2, 2.5, 5 × 10^n). */
function niceMax(v: number): number {
  if (v <= 0) return 4;
  const raw = v / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return 4 * m * p;
  return 40 * p;
}

const hhmm = (t: number): string => {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

export function lineChart(c: ChartInput): HTMLElement {
  const n = c.points.length;
  let max = 0;
  for (const p of c.points) for (const se of c.series) max = Math.max(max, p.values[se.key] ?? 0);
  const top = niceMax(max);
  const x = (i: number) => PAD.l + (n <= 1 ? 0 : (i / (n - 1)) * (W - PAD.l - PAD.r));
  const y = (v: number) => PAD.t + (1 - v / top) * (H - PAD.t - PAD.b);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': c.title });
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    svg.appendChild(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
    const label = Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2)));
    svg.appendChild(s('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, label));
  }
  const ticks = Math.min(6, n);
  for (let k = 0; k < ticks && n > 1; k++) {
    const i = Math.round((k * (n - 1)) / Math.max(1, ticks - 1));
    const anchor = k === 0 ? 'start' : k === ticks - 1 ? 'end' : 'middle';
    svg.appendChild(s('text', { x: x(i), y: H - 6, 'text-anchor': anchor, class: 'axis' }, hhmm(c.points[i]!.t)));
  }
  for (const se of c.series) {
    let d = '';
    let pen = false;
    c.points.forEach((p, i) => {
      const v = p.values[se.key];
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    if (d) svg.appendChild(s('path', { d, fill: 'none', stroke: se.color, 'stroke-width': 1.6 }));
    c.points.forEach((p, i) => {
      const v = p.values[se.key];
      if (v === null || v === undefined || v === 0) return;
      svg.appendChild(
        s(
          'circle',
          { cx: x(i), cy: y(v), r: 3, fill: se.color, class: 'point', 'data-series': se.key, 'data-value': v },
          s('title', {}, `${hhmm(p.t)} ${se.label}: ${Number.isInteger(v) ? v : v.toFixed(2)}${c.unit ? ` ${c.unit}` : ''}`),
        ),
      );
    });
  }
  const legend = h(
    'div',
    { class: 'legend' },
    c.series.map((se) => h('span', null, h('i', { style: `background:${se.color}` }), se.label)),
  );
  const box = h('figure', { class: 'chart-box', 'data-chart': c.title }, h('figcaption', null, c.title, c.unit ? h('small', null, ` (${c.unit})`) : null), legend);
  box.appendChild(svg);
  return box;
}
