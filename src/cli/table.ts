/** Space between columns. */
const GAP = '  ';
/**
 * Control characters (C0, C1) and bidirectional overrides: a server's text (an agent's
 * description, say) must not move the cursor, recolour the terminal or reorder what is shown.
 */
const CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

export type Cell = string | number | boolean | null | undefined;

/** A value as a person reads it in a terminal: controls replaced, an absent value as '-'. */
export function printable(v: Cell): string {
  if (v === null || v === undefined || v === '') return '-';
  return String(v).replace(CONTROL, '?');
}

/** Rows under upper-case headers, columns padded to their widest cell; the last column unpadded. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => r.map(printable))];
  const widths = headers.map((_h, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join(GAP).trimEnd();
  return `${cells.map(line).join('\n')}\n`;
}

/** `key: value` lines, keys aligned. */
export function fields(pairs: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width)} ${printable(v)}`).join('\n')}\n`;
}

/** `1 session`, `3 sessions`. */
export const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
