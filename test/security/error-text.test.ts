import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { errorText, MAX_ERROR_TEXT_CHARS, OAuthError } from '../../src/errors.js';
import { expectOAuthError } from '../helpers/responses.js';
import { adminToken, API, AT_TYPE, basic, clientCredentials, EXCHANGE, ISSUER, startSts, testRegistry, type TestSts } from '../helpers/sts.js';
import { startUpstreamIdp, type UpstreamIdp } from '../helpers/upstream-idp.js';

/**
 * Error text a client sees (security finding 9 and the error/detail split): every
 * error_description, in the body and in WWW-Authenticate, stays within RFC 6749 §5.2's characters
 * (%x20-21 / %x23-5B / %x5D-7E: no quote, backslash, control or non-ASCII character) and is
 * bounded, whatever the input echoed into it; agent ids and jose error codes stay in the log.
 */

const ERROR_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;
const HOSTILE = '"<script>\r\n\u0000\\é\u2028';

type Res = request.Response;

/** The body's error_description and every error_description in WWW-Authenticate are within the set. */
function expectCleanErrorText(res: Res): void {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  const texts: string[] = [];
  if (typeof res.body?.error_description === 'string') texts.push(res.body.error_description as string);
  const challenge = res.headers['www-authenticate'] as string | undefined;
  if (challenge !== undefined) {
    const m = /error_description="([^"]*)"/.exec(challenge);
    if (m) texts.push(m[1]!);
    expect(challenge).toMatch(/^(Bearer|Basic) realm="agent-sts"(, error="[a-z_]+"(, error_description="[^"]*")?)?$/);
  }
  for (const text of texts) {
    expect({ text, ok: ERROR_TEXT.test(text) && text.length <= MAX_ERROR_TEXT_CHARS }).toEqual({ text, ok: true });
  }
}

describe('error_description is within RFC 6749 §5.2 and bounded', () => {
  let sts: TestSts;
  let admin: string;
  let reader: string;
  let root: string;
  beforeAll(async () => {
    sts = await startSts();
    admin = await adminToken(sts);
    reader = await adminToken(sts, 'reader-admin', 'sessions:read');
    root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
  });
  afterAll(async () => {
    await sts.close();
  });

  const enc = encodeURIComponent;
  const post = (path: string, auth: string, body: string) => request(sts.app).post(path).set('Authorization', auth).type('form').send(body);
  const agent = basic('billing-agent');

  const cases: [string, () => request.Test][] = [
    ['/token: the finding (grant_type=%22%3Cscript%3E%0D%0A%00)', () => post('/token', agent, 'grant_type=%22%3Cscript%3E%0D%0A%00')],
    ['/token: a 20,000-character grant_type', () => post('/token', agent, `grant_type=${'%22'.repeat(20_000)}`)],
    ['/token: a hostile repeated parameter name', () => post('/token', agent, `${enc(HOSTILE)}=1&${enc(HOSTILE)}=2`)],
    ['/token: a hostile resource', () => post('/token', agent, `grant_type=client_credentials&scope=invoices:read&resource=${enc(`https://x.example/${HOSTILE}`)}`)],
    ['/token: a hostile audience', () => post('/token', agent, `grant_type=client_credentials&scope=invoices:read&audience=${enc(HOSTILE)}`)],
    ['/token: a hostile scope', () => post('/token', agent, `grant_type=client_credentials&resource=${enc(API)}&scope=${enc(`invoices:delete ${HOSTILE}`)}`)], // nothing entitled: refused (a wider scope would be narrowed)
    ['/token: a long hostile scope', () => post('/token', agent, `grant_type=client_credentials&resource=${enc(API)}&scope=${enc(`${HOSTILE} `.repeat(500))}`)],
    ['/token: a hostile subject_token_type', () => post('/token', agent, `grant_type=${enc(EXCHANGE)}&subject_token=${root}&subject_token_type=${enc(HOSTILE)}&resource=${enc(API)}&scope=invoices:read`)],
    ['/token: a hostile requested_token_type', () => post('/token', agent, `grant_type=${enc(EXCHANGE)}&subject_token=${root}&subject_token_type=${enc(AT_TYPE)}&requested_token_type=${enc(HOSTILE)}&resource=${enc(API)}&scope=invoices:read`)],
    ['/token: a hostile client_assertion_type', () => request(sts.app).post('/token').type('form').send(`client_assertion_type=${enc(HOSTILE)}&client_assertion=x`)],
    ['/token: a malformed Basic header', () => post('/token', `Basic ${HOSTILE.replace(/[^\x20-\x7e]/g, '')}`, 'grant_type=client_credentials')],
    ['/introspect: a hostile repeated parameter name', () => post('/introspect', basic(API), `${enc(HOSTILE)}=1&${enc(HOSTILE)}=2`)],
    ['/introspect: a wrong secret', () => post('/introspect', basic(API, 'x'.repeat(40)), 'token=x')],
    ['/introspect: a query string', () => request(sts.app).post(`/introspect?${enc(HOSTILE)}=1`).set('Authorization', basic(API)).type('form').send('token=x')],
    ['/revoke: a hostile repeated parameter name', () => post('/revoke', agent, `${enc(HOSTILE)}=1&${enc(HOSTILE)}=2`)],
    ['/revoke: no token', () => post('/revoke', agent, `x=${enc(HOSTILE)}`)],
    ['admin: a hostile token', () => request(sts.app).get('/admin/sessions').set('Authorization', 'Bearer "x\\y')],
    ['admin: a valid-looking but unknown token', () => request(sts.app).get('/admin/sessions').set('Authorization', `Bearer ${root}x`)],
    ['admin: too little scope (WWW-Authenticate with a description)', () => request(sts.app).delete('/admin/sessions/x').set('Authorization', `Bearer ${reader}`)],
    ['admin: a hostile ?limit=', () => request(sts.app).get(`/admin/sessions?limit=${enc(HOSTILE)}`).set('Authorization', `Bearer ${admin}`)],
    ['admin: a repeated ?agent=', () => request(sts.app).get(`/admin/sessions?agent=${enc(HOSTILE)}&agent=x`).set('Authorization', `Bearer ${admin}`)],
    ['admin: a hostile session id', () => request(sts.app).get(`/admin/sessions/${enc(HOSTILE)}`).set('Authorization', `Bearer ${admin}`)],
    ['admin: a malformed URL', () => request(sts.app).get('/admin/sessions/%E0%A4%A').set('Authorization', `Bearer ${admin}`)],
    ['admin: a JSON body that does not parse', () => request(sts.app).post('/admin/agents/nobody/revoke-sessions').set('Authorization', `Bearer ${admin}`).set('Content-Type', 'application/json').send(`{"${HOSTILE}`)],
    ['admin: a hostile Content-Type', () => request(sts.app).post('/admin/agents/nobody/revoke-sessions').set('Authorization', `Bearer ${admin}`).set('Content-Type', 'text/"x"').send('x')],
  ];

  it.each(cases)('%s', async (_name, send) => {
    const res = await send();
    expectCleanErrorText(res);
    expect(res.text).not.toContain('<script>\r');
  });

  it('the finding\'s input is answered with the same error code, its text cleaned and still readable', async () => {
    const res = await post('/token', agent, 'grant_type=%22%3Cscript%3E%0D%0A%00');
    expectOAuthError(res, 400, 'unsupported_grant_type');
    expect(res.body.error_description).toBe("grant_type ''<script>???' is not supported");
  });

  it('errorText: quotes become single quotes, other characters outside the set become ?, the length is bounded', () => {
    expect(errorText('missing "x"')).toBe("missing 'x'");
    expect(errorText('a\\b\r\n\t\u0000é\u{1F600}')).toBe('a?b??????');
    expect(errorText('x'.repeat(1_000))).toHaveLength(MAX_ERROR_TEXT_CHARS);
    expect(errorText('x'.repeat(1_000)).endsWith('...')).toBe(true);
    expect(errorText('plain text stays plain: a-z, 0-9, [brackets] ~')).toBe('plain text stays plain: a-z, 0-9, [brackets] ~');
  });

  it.each([['hostile', HOSTILE], ['long', `${HOSTILE}${'x'.repeat(400)}`], ['full-length', 'y'.repeat(MAX_ERROR_TEXT_CHARS)]])(
    'one sanitiser on both sides: the server\'s body says a %s text as the kit\'s errorText does (the gate\'s challenge: packages/gate/test/client-kit.test.ts)',
    (_name, text) => {
      expect(new OAuthError(401, 'invalid_token', text).body().error_description).toBe(errorText(text));
    },
  );
});

describe('agent ids and jose error codes stay in the detail (logged), not in the answer', () => {
  let idp: UpstreamIdp;
  let sts: TestSts;
  beforeAll(async () => {
    idp = await startUpstreamIdp({ audience: ISSUER });
    sts = await startSts({
      registry: testRegistry({ trustedIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audience: ISSUER, agents: ['billing-agent'] }] }),
    });
  });
  afterAll(async () => {
    await sts?.close();
    await idp?.close();
  });

  const exchangeAs = (agent: string, subjectToken: string) => request(sts.app).post('/token').set('Authorization', basic(agent)).type('form')
    .send({ grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: AT_TYPE, resource: API, scope: 'invoices:read' });

  it('not a delegate: a fixed text; the ids are in the denial event\'s detail', async () => {
    const root = (await clientCredentials(sts, 'billing-agent', API, 'invoices:read')).access_token;
    const res = await exchangeAs('outsider-agent', root);
    expectOAuthError(res, 400, 'invalid_grant');
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'the agent is not a delegate of the subject token holder' });
    expect(sts.events.events.at(-1)).toMatchObject({ type: 'token.denied', detail: 'agent outsider-agent is not a delegate of billing-agent' });
  });

  it('may not act for this issuer\'s users: a fixed text, naming neither the agent nor the issuer', async () => {
    const res = await exchangeAs('sub-agent', await idp.userToken('alice'));
    expectOAuthError(res, 400, 'invalid_grant');
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'the agent may not act for users of this issuer' });
    expect(res.text).not.toContain(idp.issuer);
    expect(sts.events.events.at(-1)).toMatchObject({ detail: `agent sub-agent may not act for ${idp.issuer} users` });
  });

  it('a user token jose refuses (wrong audience): "subject token rejected", the jose code only in the detail', async () => {
    const res = await exchangeAs('billing-agent', await idp.userToken('alice', { audience: 'https://elsewhere.example' }));
    expectOAuthError(res, 400, 'invalid_grant');
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'subject token rejected' });
    expect(res.text).not.toMatch(/ERR_/);
    expect(sts.events.events.at(-1)).toMatchObject({ detail: expect.stringMatching(/^jose: ERR_JWT_CLAIM_VALIDATION_FAILED$/) });
  });
});
