import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { INVALID_CLIENT_BODY, observable, type Res } from '../helpers/attack.js';
import { API, basic, clientCredentials, SECRETS, startSts, type TestSts, snapshot } from '../helpers/sts.js';

/**
 * Client secrets give no oracle: an unknown client, a wrong secret of the right length, secrets of
 * every wrong length (1 character to 10,000, multibyte), a disabled agent and a resource server at
 * the agent endpoints all get the same status, bytes and WWW-Authenticate challenge, at /token,
 * /revoke and /introspect, over Basic and client_secret_post. (Timing is not asserted: the
 * comparison hashes both sides to fixed-length digests, see src/clients/secret.ts.)
 */

const AGENT = 'billing-agent';
const RIGHT = SECRETS[AGENT]!;
/** Wrong secrets: the same length with the last character changed, and every other length. */
const WRONG_SECRETS: [string, string][] = [
  ['same length, last character changed', `${RIGHT.slice(0, -1)}${RIGHT.endsWith('x') ? 'y' : 'x'}`],
  ['same length, first character changed', `${RIGHT.startsWith('x') ? 'y' : 'x'}${RIGHT.slice(1)}`],
  ['1 character', 'x'],
  ['31 characters (one under the minimum)', 'x'.repeat(31)],
  ['the right secret minus its last character', RIGHT.slice(0, -1)],
  ['the right secret plus one character', `${RIGHT}x`],
  ['1,000 characters', 'x'.repeat(1_000)],
  ['10,000 characters', 'x'.repeat(10_000)],
  ['multibyte characters', 'é'.repeat(40)],
];

describe('client secrets are not an oracle', () => {
  let sts: TestSts;
  let token: string;

  beforeAll(async () => {
    sts = await startSts();
    token = (await clientCredentials(sts, AGENT, API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  const endpoints = {
    token: { path: '/token', form: { grant_type: 'client_credentials', resource: API, scope: 'invoices:read' } },
    revoke: { path: '/revoke', form: { token: '' } },
  };

  /** Sends `form` to `path` over Basic or client_secret_post; asserts nothing changed and nothing was issued. */
  async function attempt(path: string, form: Record<string, string>, id: string, secret: string, method: 'basic' | 'post'): Promise<Res> {
    const before = await snapshot(sts);
    const n = sts.events.events.length;
    const base = request(sts.app).post(path).type('form');
    const res = method === 'basic'
      ? await base.set('Authorization', basic(id, secret)).send(form)
      : await base.send({ ...form, client_id: id, client_secret: secret });
    expect(sts.events.events.slice(n).filter((e) => e.type === 'token.issued')).toEqual([]);
    // Refusals at /token name no agent: an event must not tell the audit log who was probed either.
    for (const e of sts.events.events.slice(n)) expect(e).not.toHaveProperty('agent');
    expect(await snapshot(sts)).toEqual(before);
    return res;
  }

  for (const method of ['basic', 'post'] as const) {
    for (const [name, { path, form: baseForm }] of Object.entries(endpoints)) {
      it(`${path} over ${method === 'basic' ? 'client_secret_basic' : 'client_secret_post'}: unknown client, disabled agent, a resource server and every wrong secret answer the same bytes and headers`, async () => {
        const form = name === 'revoke' ? { token } : baseForm;
        const reference = await attempt(path, form, 'ghost-agent', RIGHT, method);
        expect(reference.status).toBe(401);
        expect(reference.text).toBe(INVALID_CLIENT_BODY);
        if (method === 'basic') expect(reference.headers['www-authenticate']).toBe('Basic realm="agent-sts"');
        else expect(reference.headers['www-authenticate']).toBeUndefined();

        const others: [string, string, string][] = [
          ['unknown client with a 10,000-character secret', 'ghost-agent', 'x'.repeat(10_000)],
          ['disabled agent with its correct secret', 'disabled-agent', SECRETS['disabled-agent']!],
          ['a resource server with its correct secret', API, SECRETS[API]!],
          ...WRONG_SECRETS.map(([what, s]): [string, string, string] => [`${AGENT}, ${what}`, AGENT, s]),
        ];
        for (const [what, id, secret] of others) {
          const res = await attempt(path, form, id, secret, method);
          expect({ what, ...observable(res) }).toEqual({ what, ...observable(reference) });
        }
      });
    }
  }

  it('/introspect: an unknown resource server and every wrong secret of a real one answer the same bytes and challenge', async () => {
    const reference = await attempt('/introspect', { token }, 'https://unknown.example.com', SECRETS[API]!, 'basic');
    expect(reference.status).toBe(401);
    expect(reference.text).toBe(INVALID_CLIENT_BODY);
    const rsSecret = SECRETS[API]!;
    const wrong: [string, string][] = [
      ['same length, last character changed', `${rsSecret.slice(0, -1)}${rsSecret.endsWith('x') ? 'y' : 'x'}`],
      ['1 character', 'x'],
      ['10,000 characters', 'x'.repeat(10_000)],
      ['another resource server’s secret', SECRETS['https://other.example.com']!],
      ['an agent’s secret', RIGHT],
    ];
    for (const [what, secret] of wrong) {
      const res = await attempt('/introspect', { token }, API, secret, 'basic');
      expect({ what, ...observable(res) }).toEqual({ what, ...observable(reference) });
    }
    const agentAsRs = await attempt('/introspect', { token }, AGENT, RIGHT, 'basic');
    expect(observable(agentAsRs)).toEqual(observable(reference));
  });

  it('controls: the right secrets still work, and the token used above is still active', async () => {
    expect((await attempt('/introspect', { token }, API, SECRETS[API]!, 'basic')).body.active).toBe(true);
    const ok = await request(sts.app).post('/token').set('Authorization', basic(AGENT)).type('form').send(endpoints.token.form);
    expect(ok.status).toBe(200);
  });
});
