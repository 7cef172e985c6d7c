import { describe, expect, it } from '@jest/globals';
import { patched } from '../../src/scim/patch.js';
import { AGENT_SCHEMA, EXTENSION_SCHEMA as EXT, PATCH_OP_SCHEMA } from '../../src/scim/schema.js';

/** PATCH through scim-patch as IdPs send it, including value filters naming URIs (colons scim-patch would split at). */
const resource = () => ({
  schemas: [AGENT_SCHEMA, EXT], id: 'a1', displayName: 'Bot', active: true, owners: [{ value: 'alice' }],
  [EXT]: { entitlements: [{ target: 'https://a.example.com', scopes: ['r'] }, { target: 'https://b.example.com', scopes: ['q'] }], delegates: [{ value: 'x:y' }, { value: 'z' }] },
  meta: { resourceType: 'Agent', version: 'W/"1"' },
});
const ops = (...Operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });

describe('SCIM PATCH', () => {
  it('removes by a value filter naming a URI, and one naming an id with a colon', () => {
    const out = patched(resource(), ops({ op: 'Remove', path: `${EXT}:entitlements[target eq "https://b.example.com"]` }, { op: 'remove', path: `${EXT}:delegates[value eq "x:y"]` }));
    expect(out[EXT]).toEqual({ entitlements: [{ target: 'https://a.example.com', scopes: ['r'] }], delegates: [{ value: 'z' }] });
  });

  it('replaces a sub-attribute through a filter; op names in any case; core URN prefixes; Entra\'s "False"', () => {
    const out = patched(resource(), ops(
      { op: 'REPLACE', path: `${EXT}:entitlements[target eq "https://a.example.com"].scopes`, value: ['r', 's'] },
      { op: 'Replace', path: `${AGENT_SCHEMA}:displayName`, value: 'New' },
      { op: 'Replace', path: 'active', value: 'False' },
    ));
    expect(out).toMatchObject({ displayName: 'New', active: 'False', [EXT]: { entitlements: [{ target: 'https://a.example.com', scopes: ['r', 's'] }, { target: 'https://b.example.com' }] } });
    expect(out.meta).toBeUndefined();
  });

  it('refuses a body that is not a PatchOp, an unknown op, too many operations, a missing target', () => {
    expect(() => patched(resource(), { Operations: [{ op: 'add', path: 'x', value: 1 }] })).toThrow(/schemas/);
    expect(() => patched(resource(), ops({ op: 'frob', path: 'active', value: true }))).toThrow(expect.objectContaining({ status: 400, scimType: 'invalidSyntax' }));
    expect(() => patched(resource(), ops(...Array.from({ length: 101 }, () => ({ op: 'add', path: 'displayName', value: 'x' }))))).toThrow(/Operations/);
    expect(() => patched(resource(), ops({ op: 'remove' }))).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => patched(resource(), ops({ op: 'add', path: 'displayName', value: '\uE000' }))).toThrow(/U\+E000/);
  });
});
