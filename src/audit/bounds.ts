/**
 * Every string a record keeps is bounded: a refused request may carry 60 KB of `scope` (echoed in
 * the error's description), a Basic header any client id, an admin URL any subject. A longer string
 * is cut to MAX_RECORD_FIELD_CHARS (its last kept character replaced by TRUNCATION_MARK) and the
 * record gains `truncated: { <field>: <original length> }`, so a reader knows what was cut and by
 * how much; the mark alone proves nothing (a caller can send it), the `truncated` member does.
 */

/** Longest string member a record keeps, in UTF-16 code units (JavaScript's string length). */
export const MAX_RECORD_FIELD_CHARS = 512;
export const TRUNCATION_MARK = '…';

/** `value` cut to `max` characters, the last of them the mark; never splits a surrogate pair. */
export function truncate(value: string, max: number = MAX_RECORD_FIELD_CHARS): string {
  if (value.length <= max) return value;
  let end = max - TRUNCATION_MARK.length;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return value.slice(0, end) + TRUNCATION_MARK;
}

type WithTruncated = { truncated?: Record<string, number> };

/**
 * The event with every top-level string member at most `max` characters, and the original lengths
 * of those it cut in `truncated` (merged with any already there). The same object when nothing is
 * too long, so a well-formed event costs one pass over its members.
 */
export function boundFields<T extends object>(event: T, max: number = MAX_RECORD_FIELD_CHARS): T {
  let out: (Record<string, unknown> & WithTruncated) | undefined;
  for (const key of Object.keys(event)) {
    const v = (event as Record<string, unknown>)[key];
    if (typeof v !== 'string' || v.length <= max) continue;
    out ??= { ...event, truncated: { ...(event as WithTruncated).truncated } };
    out[key] = truncate(v, max);
    out.truncated![key] = v.length;
  }
  return (out ?? event) as T;
}
