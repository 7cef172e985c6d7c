import { describe, expect, it } from '@jest/globals';
import { GRANT_TYPES } from 'agent-sts-gate/protocol';
import { GRANT_TYPE_VALUES } from '../../src/clients/attributes.js';
import { grantLabel } from '../../src/http/metrics.js';
import { GrantList } from '../../src/oauth/grants/list.js';
import type { TokenGrant } from '../../src/oauth/grants/types.js';

/** The one grant list (deps.ts builds it): found by type, each grant's parameters as a set, checked at boot. */
const grant = (grantType: string, parameters: string[] = [], repeatable?: string[]): TokenGrant => ({
  grantType, parameters, ...(repeatable ? { repeatable } : {}), handle: async () => ({ body: {} }),
});

describe('GrantList', () => {
  it('finds a grant by its type, with the parameters it defines that may not repeat', () => {
    const cc = grant(GRANT_TYPES.clientCredentials, ['scope', 'resource', 'audience'], ['resource', 'audience']);
    const list = new GrantList([cc, grant(GRANT_TYPES.tokenExchange, ['subject_token'])]);
    expect(list.types).toEqual([GRANT_TYPES.clientCredentials, GRANT_TYPES.tokenExchange]);
    expect(list.get(GRANT_TYPES.clientCredentials)?.grant).toBe(cc);
    expect([...list.get(GRANT_TYPES.clientCredentials)!.once]).toEqual(['scope']);
    expect([...list.get(GRANT_TYPES.tokenExchange)!.once]).toEqual(['subject_token']);
    expect(list.get('password')).toBeUndefined();
    expect(list.get('__proto__')).toBeUndefined();
  });

  it('refuses at boot a grant type offered twice, or one no agent could be allowed', () => {
    expect(() => new GrantList([grant(GRANT_TYPES.clientCredentials), grant(GRANT_TYPES.clientCredentials)])).toThrow(/offered twice/);
    expect(() => new GrantList([grant('urn:example:grant-type:unknown')])).toThrow(/no agent can be allowed it/);
  });

  it('labels each grant type the registry knows for the metrics by its name or its URN\'s last part', () => {
    expect(GRANT_TYPE_VALUES.map(grantLabel)).toEqual(['client_credentials', 'token_exchange', 'jwt_bearer']);
  });

  it('lists the authorization grant profiles its grants implement, once each', () => {
    const profile = 'urn:ietf:params:oauth:grant-profile:id-jag';
    expect(new GrantList([grant(GRANT_TYPES.clientCredentials)]).profiles).toEqual([]);
    const jwtBearer = { ...grant(GRANT_TYPES.jwtBearer, ['assertion']), profiles: [profile, profile] };
    expect(new GrantList([grant(GRANT_TYPES.clientCredentials), jwtBearer]).profiles).toEqual([profile]);
  });
});
