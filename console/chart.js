// Small charts as inline SVG built with DOM calls (no library, nothing inline for the CSP to
// refuse: sizes are attributes, colours come from style.css). Each chart carries its numbers as
// text too (labels, a <title>), so it reads without the picture.

const SVG = 'http://www.w3.org/2000/svg';

/** svg('rect', { x: 1 }, child…): an SVG element; text children become text nodes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const BAR_HEIGHT = 18;
const BAR_GAP = 6;
const LABEL_WIDTH = 150;
const BAR_WIDTH = 200;
const VALUE_WIDTH = 50;
/** Longer labels are cut (the full one is the bar's or the box's <title>). */
const LABEL_CHARS = 22;
const BOX_CHARS = 28;

const cut = (text, max = LABEL_CHARS) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Horizontal bars, largest first: rows [{ label, value }]. */
export function barChart(rows, title) {
  const sorted = [...rows].sort((a, b) => b.value - a.value);
  const max = Math.max(1, ...sorted.map((r) => r.value));
  const height = Math.max(1, sorted.length) * (BAR_HEIGHT + BAR_GAP);
  const width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH;
  return svg('svg', { class: 'chart bars', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title },
    svg('title', {}, title),
    sorted.map((r, i) => {
      const y = i * (BAR_HEIGHT + BAR_GAP);
      const w = Math.max(r.value > 0 ? 2 : 0, Math.round((r.value / max) * BAR_WIDTH));
      return svg('g', { class: 'bar', 'data-label': r.label, 'data-value': r.value },
        svg('title', {}, `${r.label}: ${r.value}`),
        svg('text', { x: LABEL_WIDTH - 6, y: y + BAR_HEIGHT - 5, 'text-anchor': 'end' }, cut(r.label)),
        svg('rect', { x: LABEL_WIDTH, y, width: w, height: BAR_HEIGHT, rx: 2 }),
        svg('text', { x: LABEL_WIDTH + w + 6, y: y + BAR_HEIGHT - 5, class: 'value' }, r.value));
    }));
}

const COLUMN_WIDTH = 18;
const COLUMN_GAP = 4;
const COLUMNS_HEIGHT = 60;
const AXIS_HEIGHT = 16;

/** Columns over time: counts per bucket, oldest first; `labels` the first and last bucket's times. */
export function columnChart(counts, title, [first, last]) {
  const max = Math.max(1, ...counts);
  const width = counts.length * (COLUMN_WIDTH + COLUMN_GAP);
  return svg('svg', { class: 'chart columns', viewBox: `0 0 ${width} ${COLUMNS_HEIGHT + AXIS_HEIGHT}`, width, height: COLUMNS_HEIGHT + AXIS_HEIGHT, role: 'img', 'aria-label': title },
    svg('title', {}, title),
    counts.map((n, i) => {
      const h = n > 0 ? Math.max(2, Math.round((n / max) * COLUMNS_HEIGHT)) : 0;
      return svg('rect', { x: i * (COLUMN_WIDTH + COLUMN_GAP), y: COLUMNS_HEIGHT - h, width: COLUMN_WIDTH, height: h, rx: 1, 'data-count': n }, svg('title', {}, String(n)));
    }),
    svg('line', { x1: 0, y1: COLUMNS_HEIGHT + 0.5, x2: width, y2: COLUMNS_HEIGHT + 0.5, class: 'axis' }),
    svg('text', { x: 0, y: COLUMNS_HEIGHT + AXIS_HEIGHT - 3, class: 'tick' }, first),
    svg('text', { x: width, y: COLUMNS_HEIGHT + AXIS_HEIGHT - 3, class: 'tick', 'text-anchor': 'end' }, last));
}

const NODE_WIDTH = 200;
const NODE_HEIGHT = 44;
const COLUMN_STEP = 240;
const ROW_STEP = 56;

/**
 * A session tree (GET /admin/sessions/:sid) drawn left to right: one box per session (its agent,
 * for whom, its depth), a line from each delegating session to the sessions made from it.
 */
export function delegationPicture(tree) {
  const placed = [];
  let row = 0;
  const place = (node, depth) => {
    const kids = node.children.map((c) => place(c, depth + 1));
    const y = kids.length ? (kids[0].y + kids[kids.length - 1].y) / 2 : row++ * ROW_STEP;
    const p = { node, depth, x: depth * COLUMN_STEP, y, kids };
    placed.push(p);
    return p;
  };
  place(tree, 0);
  const width = Math.max(...placed.map((p) => p.x)) + NODE_WIDTH + 2;
  const height = Math.max(...placed.map((p) => p.y)) + NODE_HEIGHT + 2;
  const links = placed.flatMap((p) => p.kids.map((k) => svg('path', {
    class: 'link', d: `M${p.x + NODE_WIDTH} ${p.y + NODE_HEIGHT / 2} C${p.x + NODE_WIDTH + 20} ${p.y + NODE_HEIGHT / 2} ${k.x - 20} ${k.y + NODE_HEIGHT / 2} ${k.x} ${k.y + NODE_HEIGHT / 2}`,
  })));
  const boxes = placed.map(({ node, x, y }) => svg('g', { class: 'session', 'data-sid': node.sid, 'data-agent': node.agent, 'data-depth': node.depth, transform: `translate(${x + 1} ${y + 1})` },
    svg('title', {}, `${node.sid}: ${node.agent}${node.sub !== node.agent ? ` for ${node.sub}` : ''}, depth ${node.depth}, ${node.scope} at ${node.aud}`),
    svg('rect', { width: NODE_WIDTH, height: NODE_HEIGHT, rx: 5 }),
    svg('text', { x: 8, y: 18, class: 'agent' }, cut(node.agent, BOX_CHARS)),
    svg('text', { x: 8, y: 35, class: 'sub' }, cut(`depth ${node.depth}${node.sub !== node.agent ? ` · for ${node.sub}` : ''}`, BOX_CHARS))));
  return svg('svg', { class: 'chart delegation', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `Delegation tree of ${tree.sid}: ${placed.length} sessions` },
    svg('title', {}, `Delegation tree of ${tree.sid}`), links, boxes);
}
