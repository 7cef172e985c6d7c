import { randomBytes } from 'node:crypto';
import type { Request, Router } from 'express';
import { z } from 'zod';
import { CAEP_SESSION_REVOKED, SSF_VERIFICATION } from 'agent-sts-gate/protocol';
import { only, parseBody, privateRouter, type ContextOf } from '../admin/http-kit.js';
import { OAuthError, invalidRequest } from '../errors.js';
import type { KeyStore } from '../keys/keystore.js';
import { authenticateClient, type AuthContext } from '../oauth/client-auth.js';
import { asOAuthRequest, jsonBody, POLL_DELIVERY, STREAM_QUOTA, type SsfDeps, type SsfEndpoints } from './poll.js';
import { verificationSet } from './set.js';

/** SSF 1.0 §8.1.1 min_verification_interval: one verification request per stream this often; more answer 429. */
export const MIN_VERIFICATION_INTERVAL_SECONDS = 60;
const MS_PER_SECOND = 1_000;
const EVENTS_SUPPORTED = [CAEP_SESSION_REVOKED, SSF_VERIFICATION];

const credentials = { client_id: z.string().optional(), client_secret: z.string().optional(), client_assertion: z.string().optional(), client_assertion_type: z.string().optional() };
const createBody = z.strictObject({
  delivery: z.strictObject({ method: z.literal(POLL_DELIVERY) }).optional(),
  events_requested: z.array(z.string().max(200)).max(20).optional(),
  description: z.string().max(200).optional(),
  ...credentials,
});
const verifyBody = z.strictObject({ stream_id: z.string().max(64), state: z.string().max(200).optional(), ...credentials });
const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * SSF 1.0 stream management, kept to what a resource server needs: create a poll stream of its
 * own (each gets its own position in the resource server's events), read its streams, delete one,
 * and ask for a verification event. Authenticated as at /introspect; a resource server sees only its streams.
 */
export function streamsRouter(auth: AuthContext, ssf: SsfDeps, endpoints: SsfEndpoints, keys: KeyStore, contextOf: ContextOf, nowMs: () => number): Router {
  const issuerPath = new URL(endpoints.issuer).pathname.replace(/\/$/, '');
  const r = privateRouter(`${issuerPath}/ssf`);
  const url = `${endpoints.issuer}/ssf/streams`;
  const caller = (req: Request, body: Record<string, unknown> = {}, at = url) => authenticateClient(auth, asOAuthRequest(req, body, at, contextOf), 'resourceServer');
  const view = (id: string, aud: string, config: string) => ({
    stream_id: id, iss: endpoints.issuer, aud,
    delivery: { method: POLL_DELIVERY, endpoint_url: `${endpoints.poll}/${id}` },
    events_supported: EVENTS_SUPPORTED, events_delivered: EVENTS_SUPPORTED,
    min_verification_interval: MIN_VERIFICATION_INTERVAL_SECONDS,
    ...(JSON.parse(config) as Record<string, unknown>),
  });
  const streamIdOf = (req: Request) => {
    const id = req.query.stream_id;
    if (id === undefined) return undefined;
    if (typeof id !== 'string' || !STREAM_ID.test(id)) throw invalidRequest('stream_id is malformed');
    return id;
  };

  r.route(`${issuerPath}/ssf/streams`)
    .post(...jsonBody, async (req, res) => {
      const body = parseBody(createBody, req.body as unknown);
      const rs = await caller(req, body);
      const id = randomBytes(12).toString('base64url');
      const config = JSON.stringify({
        events_requested: body.events_requested ?? EVENTS_SUPPORTED, ...(body.description ? { description: body.description } : {}),
        created: new Date(nowMs()).toISOString(),
      });
      if (!(await ssf.store.addStream(rs.id, id, config, STREAM_QUOTA, nowMs()))) {
        throw new OAuthError(409, 'invalid_request', `at most ${STREAM_QUOTA.max} streams per resource server (managed ones and stream names polled): delete one first`);
      }
      res.status(201).json(view(id, rs.id, config));
    })
    .get(async (req, res) => {
      const rs = await caller(req);
      const id = streamIdOf(req);
      const streams = await ssf.store.streams(rs.id);
      if (id === undefined) return void res.json([...streams].map(([sid, c]) => view(sid, rs.id, c)));
      const config = streams.get(id);
      if (!config) throw new OAuthError(404, 'not_found', 'no stream with that id');
      res.json(view(id, rs.id, config));
    })
    .delete(async (req, res) => {
      const rs = await caller(req);
      const id = streamIdOf(req);
      if (id === undefined) throw invalidRequest('stream_id is required');
      // One atomic step: an id that is not one of this resource server's managed streams (push's own position included) changes nothing.
      if (!(await ssf.store.removeStream(rs.id, id))) throw new OAuthError(404, 'not_found', 'no stream with that id');
      res.status(204).end();
    })
    .all(only('GET, HEAD, POST, DELETE'));

  r.route(`${issuerPath}/ssf/verify`)
    .post(...jsonBody, async (req, res) => {
      const body = parseBody(verifyBody, req.body as unknown);
      const rs = await caller(req, body, `${endpoints.issuer}/ssf/verify`);
      const v = verificationSet(keys, endpoints.issuer, rs.id, body.stream_id, body.state, nowMs());
      const outcome = await ssf.store.verify(rs.id, body.stream_id, v, nowMs(), ssf.retentionMs, MIN_VERIFICATION_INTERVAL_SECONDS * MS_PER_SECOND);
      if (outcome.status === 'no-stream') throw new OAuthError(404, 'not_found', 'no stream with that id');
      if (outcome.status === 'too-soon') {
        throw new OAuthError(429, 'slow_down', `at most one verification per stream every ${MIN_VERIFICATION_INTERVAL_SECONDS} seconds (min_verification_interval)`, {
          'Retry-After': String(Math.ceil(outcome.retryAfterMs / MS_PER_SECOND)),
        });
      }
      ssf.wakeups.notify(rs.id);
      ssf.delivery?.kick();
      res.status(204).end();
    })
    .all(only('POST'));
  return r;
}
