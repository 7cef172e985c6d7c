/** RFC 6749 §3.3: a space-separated list of scope tokens; order and repeats carry no meaning. */
export function parseScope(raw: string | undefined): string[] {
  return [...new Set((raw ?? '').split(' ').filter(Boolean))];
}

/** The scopes of `required` that `held` lacks, each once, in `required`'s order: empty when `held` covers them (the one subset rule). */
export function missingScopes(required: readonly string[], held: readonly string[]): string[] {
  return [...new Set(required.filter((s) => !held.includes(s)))];
}

/** Whether `held` covers every scope of `required`. */
export const scopesWithin = (required: readonly string[], held: readonly string[]): boolean => required.every((s) => held.includes(s));
