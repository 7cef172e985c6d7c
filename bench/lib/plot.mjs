// A small SVG line chart, enough for the growth curves in bench/RESULTS.md: no dependency, one file
// per curve. Each series is a list of [x, y] points; axes are linear or log10; a target is drawn
// dashed. Values are from one run, so the chart says which run in its title.
import { writeFileSync } from 'node:fs';

const W = 640;
const H = 360;
const PAD = { left: 70, right: 20, top: 40, bottom: 50 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const TICKS = 5;
/** The legend sits in the bottom-right corner, where growth curves (rising to the right) rarely pass. */
const LEGEND_W = 240;

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (Math.abs(v) >= 1e6 ? `${+(v / 1e6).toPrecision(3)}M` : Math.abs(v) >= 1e3 ? `${+(v / 1e3).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

function axis(values, log) {
  const vs = log ? values.filter((v) => v > 0).map(Math.log10) : values;
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  if (!log) lo = Math.min(0, lo);
  if (hi === lo) hi = lo + 1;
  const ticks = log
    ? Array.from({ length: Math.floor(hi) - Math.ceil(lo) + 1 }, (_, i) => 10 ** (Math.ceil(lo) + i))
    : Array.from({ length: TICKS + 1 }, (_, i) => lo + ((hi - lo) * i) / TICKS);
  return { at: (v) => ((log ? Math.log10(v) : v) - lo) / (hi - lo), ticks };
}

/**
 * Writes an SVG chart to `file`. series: [{ name, points: [[x, y], ...] }]; targets: the same shape,
 * drawn dashed; logX / logY: log10 axes (values ≤ 0 are left out).
 */
export function writePlot(file, { title, xLabel, yLabel, series, targets = [], logX = false, logY = false }) {
  const all = [...series, ...targets].flatMap((s) => s.points);
  const xs = axis(all.map((p) => p[0]), logX);
  const ys = axis(all.map((p) => p[1]), logY);
  const px = (x) => PAD.left + xs.at(x) * (W - PAD.left - PAD.right);
  const py = (y) => H - PAD.bottom - ys.at(y) * (H - PAD.top - PAD.bottom);
  const usable = (p) => (!logX || p[0] > 0) && (!logY || p[1] > 0);
  const line = (s, colour, dashed) => {
    const pts = s.points.filter(usable);
    const path = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    const dots = dashed ? '' : pts.map((p) => `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${colour}"><title>${esc(`${s.name}: ${fmt(p[0])}, ${fmt(p[1])}`)}</title></circle>`).join('');
    return `<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/>${dots}`;
  };
  const legend = [...series.map((s, i) => [s.name, COLOURS[i % COLOURS.length], false]), ...targets.map((s) => [s.name, '#888', true])]
    .map(([name, colour, dashed], i, all) => `<g transform="translate(${W - PAD.right - LEGEND_W},${H - PAD.bottom - 10 - (all.length - 1 - i) * 16})"><line x1="0" y1="0" x2="18" y2="0" stroke="${colour}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="24" y="4">${esc(name)}</text></g>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(title)}</text>
${xs.ticks.map((t) => `<line x1="${px(t)}" y1="${PAD.top}" x2="${px(t)}" y2="${H - PAD.bottom}" stroke="#eee"/><text x="${px(t)}" y="${H - PAD.bottom + 15}" text-anchor="middle">${fmt(t)}</text>`).join('')}
${ys.ticks.map((t) => `<line x1="${PAD.left}" y1="${py(t)}" x2="${W - PAD.right}" y2="${py(t)}" stroke="#eee"/><text x="${PAD.left - 6}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`).join('')}
<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#333"/>
<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#333"/>
<text x="${(PAD.left + W - PAD.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(16,${(PAD.top + H - PAD.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>
${targets.map((s) => line(s, '#888', true)).join('\n')}
${series.map((s, i) => line(s, COLOURS[i % COLOURS.length], false)).join('\n')}
${legend}
</svg>
`;
  writeFileSync(file, svg);
}
