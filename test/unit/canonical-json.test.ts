import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from '../../src/store/audit.js';

/** The audit trail's body digest is taken over this form: one event must always give one string. */
describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members and writes no whitespace', () => {
    const event = { type: 't', b: [3, { z: 1, a: undefined, m: 'x' }], a: { d: { y: null, c: true } }, skip: undefined };
    expect(canonicalJson(event)).toBe('{"a":{"d":{"c":true,"y":null}},"b":[3,{"m":"x","z":1}],"type":"t"}');
  });

  it('gives one string whatever order the keys were added in', () => {
    expect(canonicalJson({ sid: 's', agent: 'a', scope: ['r', 'w'] })).toBe(canonicalJson({ scope: ['r', 'w'], sid: 's', agent: 'a' }));
  });

  it('writes strings, numbers and array holes as JSON.stringify does', () => {
    const odd = { 'k"\u2028': 'é\n"\\', n: -0.5e-7, list: [undefined, 'a'] };
    expect(canonicalJson(odd)).toBe(`{${JSON.stringify('k"\u2028')}:${JSON.stringify('é\n"\\')},"list":[null,"a"],"n":${JSON.stringify(-0.5e-7)}}`);
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
  });

  it('orders keys by UTF-16 code units, as a plain sort does', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4 })).toBe('{"B":2,"_":4,"a":3,"b":1}');
  });
});
