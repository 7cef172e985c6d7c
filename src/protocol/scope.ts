/** RFC 6749 §3.3: a space-separated list of scope tokens; order and repeats carry no meaning. */
export function parseScope(raw: string | undefined): string[] {
  return [...new Set((raw ?? '').split(' ').filter(Boolean))];
}
