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

  it('an object already in order is written as it is; one out of order at any depth, or with an undefined member, is rewritten', () => {
    expect(canonicalJson({ a: 1, b: [{ c: 2, d: 3 }], e: 'x' })).toBe('{"a":1,"b":[{"c":2,"d":3}],"e":"x"}');
    expect(canonicalJson({ a: { z: 1, b: 2 }, c: 3 })).toBe('{"a":{"b":2,"z":1},"c":3}');
    expect(canonicalJson({ a: [{ y: 1, x: 2 }] })).toBe('{"a":[{"x":2,"y":1}]}');
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson({ a: [1, undefined] })).toBe('{"a":[1,null]}');
    expect(canonicalJson({ 10: 'a', 9: 'b' })).toBe('{"10":"a","9":"b"}');
  });

  it('orders keys by UTF-16 code units, as a plain sort does', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4 })).toBe('{"B":2,"_":4,"a":3,"b":1}');
  });
});
