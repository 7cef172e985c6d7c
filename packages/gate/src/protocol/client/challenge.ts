/**
 * WWW-Authenticate (RFC 9110 §11.6.1, formerly RFC 7235 §4.1): the one builder every refusal uses
 * (agent-sts's own and the resource-server gate's) and a parser for what any server sends.
 */

/** One challenge: its scheme, and either a token68 or auth-params (names lower-cased, values unquoted). */
export interface Challenge {
  scheme: string;
  token68?: string;
  params: Record<string, string>;
}

/** Longest error_description sent; the rest of a long text (usually echoed input) is cut. */
export const MAX_ERROR_TEXT_CHARS = 200;
const TRUNCATED = '...';
/** RFC 6749 §5.2 and RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E; anything else becomes '?'. */
const NOT_ERROR_TEXT = /[^\x20\x21\x23-\x5B\x5D-\x7E]/gu;

/** Error text safe for a JSON body and for a quoted-string in WWW-Authenticate: allowed characters only, bounded. */
export function errorText(text: string): string {
  const head = text.length > MAX_ERROR_TEXT_CHARS ? text.slice(0, MAX_ERROR_TEXT_CHARS - TRUNCATED.length) + TRUNCATED : text;
  return head.replace(NOT_ERROR_TEXT, (c) => (c === '"' ? "'" : '?'));
}

/** A quoted-string: `"` and `\` as quoted-pairs, anything outside visible ASCII and space as '?' (never a CR or LF). */
const quoted = (value: string) => `"${value.replace(/[^\x20-\x7E]/gu, '?').replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** `<scheme> name="value", …` for the members of `params` that are defined, in their order. */
export function formatChallenge(scheme: string, params: Record<string, string | undefined> = {}): string {
  const members = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined);
  return members.length ? `${scheme} ${members.map(([k, v]) => `${k}=${quoted(v)}`).join(', ')}` : scheme;
}

export class ChallengeSyntaxError extends Error {
  constructor(
    readonly header: string,
    readonly at: number,
    what: string,
  ) {
    super(`WWW-Authenticate: ${what} at offset ${at}`);
    this.name = 'ChallengeSyntaxError';
  }
}

/** RFC 9110 §5.6.2 token. */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[^"\\\\]|\\\\[\\s\\S])*"';
/** An auth-param at the cursor: name BWS "=" BWS ( token / quoted-string ), then OWS and a comma or the end. */
const AUTH_PARAM = new RegExp(`(${TOKEN})[ \\t]*=[ \\t]*(${TOKEN}|${QUOTED})[ \\t]*(?=,|$)`, 'y');
/** token68, then OWS and a comma or the end. */
const TOKEN68 = /([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)/y;
const SCHEME = new RegExp(`(${TOKEN})(?=[ \\t]|,|$)[ \\t]*`, 'y');
/** List separators: commas with optional whitespace, empty elements allowed (RFC 9110 §5.6.1). */
const SEPARATORS = /[ \t]*(?:,[ \t]*)*/y;

const unquote = (v: string) => (v.startsWith('"') ? v.slice(1, -1).replace(/\\([\s\S])/g, '$1') : v);

/**
 * Every challenge of a WWW-Authenticate value (several header lines joined by ", " are one value).
 * Commas inside quoted strings belong to the value; a bare token after a parameter starts the next
 * challenge. Throws ChallengeSyntaxError on anything else, or on a parameter named twice.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let at = 0;
  const match = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = at;
    const m = re.exec(header);
    if (m) at = re.lastIndex;
    return m;
  };
  const separators = () => match(SEPARATORS);
  separators();
  while (at < header.length) {
    const scheme = match(SCHEME);
    if (!scheme) throw new ChallengeSyntaxError(header, at, 'expected an auth-scheme');
    const challenge: Challenge = { scheme: scheme[1]!, params: {} };
    out.push(challenge);
    const param = match(AUTH_PARAM);
    if (!param) {
      const t68 = match(TOKEN68);
      if (t68) challenge.token68 = t68[1]!;
      separators();
      continue;
    }
    for (let p: RegExpExecArray | null = param; p; ) {
      const name = p[1]!.toLowerCase();
      if (Object.hasOwn(challenge.params, name)) throw new ChallengeSyntaxError(header, at, `parameter ${name} given twice`);
      challenge.params[name] = unquote(p[2]!);
      separators();
      p = match(AUTH_PARAM);
    }
  }
  return out;
}

/** The first challenge of `scheme` (compared case-insensitively), if any. */
export const challengeFor = (challenges: readonly Challenge[], scheme: string): Challenge | undefined =>
  challenges.find((c) => c.scheme.toLowerCase() === scheme.toLowerCase());
