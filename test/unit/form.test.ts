import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseForm } from '../../src/oauth/request.js';

/**
 * What URLSearchParams makes of a body, grouped by name as parseForm answers, without the
 * parameters sent with no value: RFC 6749 §3.2 says they MUST be treated as omitted.
 */
function reference(body: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(body)) if (v !== '') out.set(k, [...(out.get(k) ?? []), v]);
  return out;
}

describe('parseForm parses as URLSearchParams, leaving out parameters without a value', () => {
  it.each([
    ['scope=', []],
    ['scope', []],
    ['scope=&scope=a', [['scope', ['a']]]],
    ['resource=&audience=x&token=', [['audience', ['x']]]],
    ['scope=%20', [['scope', [' ']]]],
    ['a=1&a=&a=2', [['a', ['1', '2']]]],
  ] as [string, [string, string[]][]][])('%j → %j', (body, expected) => {
    expect(parseForm(body)).toEqual(new Map(expected));
  });

  it.each([
    'grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&scope=a+b',
    'token=eyJhbGciOiJFUzI1NiJ9.eyJzaWQiOiJ4In0.c2ln', 'a=1&&b=2', 'a', '=x', 'a=1&a=2', '&', 'a==b', '', 'a=%zz&b=%E2%82%AC', 'a+b=c+d',
  ])('%j', (body) => {
    expect(parseForm(body)).toEqual(reference(body));
  });

  it('for any body over the characters that matter (&, =, %, +, hex digits, letters, non-ASCII)', () => {
    const body = fc.array(fc.constantFrom('&', '=', '%', '+', '2', 'B', 'e', 'x', '.', '-', 'é', '€', ' '), { maxLength: 40 }).map((cs) => cs.join(''));
    fc.assert(fc.property(body, (b) => expect(parseForm(b)).toEqual(reference(b))), { numRuns: 2_000 });
  });

  it('for any body with nothing to decode (the fast path: no % and no +)', () => {
    const body = fc.array(fc.constantFrom('&', '=', 'B', 'e', 'x', '.', '-', '_', 'é', ' '), { maxLength: 40 }).map((cs) => cs.join(''));
    fc.assert(fc.property(body, (b) => expect(parseForm(b)).toEqual(reference(b))), { numRuns: 2_000 });
  });
});
