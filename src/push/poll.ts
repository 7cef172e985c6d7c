import { performance } from 'node:perf_hooks';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { type PollResponse, WELL_KNOWN, wellKnownPath } from 'agent-sts-gate/protocol';
import { only, parseBody, privateRouter, type ContextOf } from '../admin/http-kit.js';
import { OAuthError } from '../errors.js';
import { authenticateClient, type AuthContext } from '../oauth/client-auth.js';
import type { OAuthRequest } from '../oauth/request.js';
import { PUSH_STREAM, SSF_MAX_EVENTS, type SsfPolled, type SsfStore, type StreamQuota } from '../store/ssf.js';
import type { KillAnnouncer } from '../sessions/announcer.js';
import type { PushDelivery } from './delivery.js';
import type { Wakeups } from './wakeups.js';

/** A poll body is a list of acks and a few flags. */
const POLL_BODY_LIMIT = '64kb';
/** RFC 8936 leaves maxEvents' absence to the transmitter: this many. */
const DEFAULT_MAX_EVENTS = 100;
/**
 * Positions one resource server may keep: its managed streams and the stream names its polls use,
 * together. A name unpolled for 10 minutes (a live subscriber polls at least every
 * STS_SSF_LONG_POLL_MS, at most 2 minutes) gives its place to a new one.
 */
export const STREAM_QUOTA: StreamQuota = { max: 100, idleMs: 10 * 60_000 };
/** The stream a poll naming none reads (each subscriber may name its own). */
export const DEFAULT_STREAM = 'default';
/** RFC 8936 §2.4: SSF 1.0 names the two delivery methods by their RFCs. */
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';
export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';

/** RFC 8936 §2.4 (setErrs accepted and ignored); client_* members authenticate, as in a form. */
const pollBody = z.strictObject({
  maxEvents: z.number().int().min(0).max(SSF_MAX_EVENTS).optional(),
  returnImmediately: z.boolean().optional(),
  ack: z.array(z.string().min(1).max(200)).max(SSF_MAX_EVENTS).optional(),
  setErrs: z.record(z.string().max(200), z.object({ err: z.string(), description: z.string() })).optional(),
  /** agent-sts's: the subscriber's own stream, so each process of a resource server hears every SET. */
  stream: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).refine((s) => s !== PUSH_STREAM, 'that stream is push delivery\'s').optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  client_assertion: z.string().optional(),
  client_assertion_type: z.string().optional(),
});
const CREDENTIAL_MEMBERS = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type'] as const;

export interface SsfDeps {
  store: SsfStore;
  wakeups: Wakeups;
  retentionMs: number;
  longPollMs: number;
  /** Push delivery (RFC 8935), set by the wiring file. */
  delivery?: PushDelivery;
  /** The kill outbox's drain, set by the wiring file: a poll announces overdue kills first. */
  announcer?: KillAnnouncer;
  /** Whether push endpoints may be http (development and test only). */
  httpPushAllowed?: boolean;
}

export interface SsfEndpoints {
  issuer: string;
  jwks: string;
  poll: string;
}

export const ssfEndpointsOf = (issuer: string, jwks: string): SsfEndpoints => ({ issuer, jwks, poll: `${issuer}/ssf/poll` });

/**
 * SSF 1.0 §7.1 transmitter metadata. `poll_endpoint` is agent-sts's: every resource server may poll
 * there without making a stream first. No `authorization_schemes` (optional in §7.1): §7.1.1's one
 * example, `urn:ietf:rfc:6749`, tells a receiver to bring an access token (the CAEP interoperability
 * profile says the same), while these endpoints take the resource server's own client
 * authentication (RFC 6749 §2.3) and no bearer token; no spec URN names that, so none is claimed.
 */
export function ssfConfiguration(e: SsfEndpoints): Record<string, unknown> {
  return {
    spec_version: '1_0',
    issuer: e.issuer,
    jwks_uri: e.jwks,
    delivery_methods_supported: [POLL_DELIVERY, PUSH_DELIVERY],
    poll_endpoint: e.poll,
    configuration_endpoint: `${e.issuer}/ssf/streams`,
    verification_endpoint: `${e.issuer}/ssf/verify`,
    default_subjects: 'ALL',
  };
}

/** The request as client authentication reads it: headers, and the client_* members of the JSON body. */
export function asOAuthRequest(req: Request, body: Record<string, unknown>, url: string, contextOf: ContextOf): OAuthRequest {
  const params = new Map<string, string[]>();
  for (const m of CREDENTIAL_MEMBERS) if (typeof body[m] === 'string') params.set(m, [body[m]]);
  return { method: 'POST', headers: req.headers, query: '', params, endpointUrl: url, context: contextOf(req) };
}

const isJson = (req: Request) => req.headers['content-type']?.split(';')[0]!.trim().toLowerCase() === 'application/json';

/** A JSON body (415 for another type), parsed within POLL_BODY_LIMIT. */
export const jsonBody = [
  (req: Request, _res: unknown, next: (err?: unknown) => void) => next(isJson(req) ? undefined : new OAuthError(415, 'invalid_request', 'send application/json')),
  express.json({ limit: POLL_BODY_LIMIT, type: () => true }),
];

interface PollRequest {
  /** The resource server polling. */
  aud: string;
  stream: string;
  ack: string[];
  maxEvents: number;
  /** Whether it may wait (RFC 8936 returnImmediately false) for something to read. */
  waits: boolean;
}

const streamsFull = () => new OAuthError(409, 'invalid_request', `at most ${STREAM_QUOTA.max} streams per resource server, managed ones and `
  + `stream names polled: poll one it has or delete a managed one (a name unpolled for ${STREAM_QUOTA.idleMs / 60_000} minutes gives its place up)`);

/**
 * POST /ssf/poll (RFC 8936): a resource server, authenticated as at /introspect, acknowledges SETs
 * and reads its unacknowledged ones. With returnImmediately false and nothing to read, it waits up
 * to STS_SSF_LONG_POLL_MS. Unacknowledged SETs come again on every poll; acknowledged ones never.
 */
export function ssfRouter(auth: AuthContext, ssf: SsfDeps, endpoints: SsfEndpoints, contextOf: ContextOf, nowMs: () => number): Router {
  const issuerPath = new URL(endpoints.issuer).pathname.replace(/\/$/, '');
  // Mounted at the root: its metadata is public (cached 5 minutes), everything under /ssf is private.
  const r = privateRouter(`${issuerPath}/ssf`);
  const metadata = ssfConfiguration(endpoints);
  r.get(wellKnownPath(endpoints.issuer, WELL_KNOWN.ssfConfiguration), (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(metadata);
  });
  const pollRequest = async (req: Request, managed: boolean): Promise<PollRequest> => {
    const body = parseBody(pollBody, req.body as unknown);
    const url = managed ? `${endpoints.poll}/${String(req.params.streamId)}` : endpoints.poll;
    const rs = await authenticateClient(auth, asOAuthRequest(req, body, url, contextOf), 'resourceServer');
    const maxEvents = body.maxEvents ?? DEFAULT_MAX_EVENTS;
    // /ssf/poll/:streamId reads a stream made through stream management (SSF 1.0 §8.1.1), only its owner's
    if (managed && !(await ssf.store.streams(rs.id)).has(String(req.params.streamId))) throw new OAuthError(404, 'not_found', 'no stream with that id');
    return {
      aud: rs.id, maxEvents, stream: managed ? String(req.params.streamId) : (body.stream ?? DEFAULT_STREAM),
      // RFC 8936 §2.4: a SET reported in setErrs is acknowledged too (never delivered again).
      ack: [...(body.ack ?? []), ...Object.keys(body.setErrs ?? {})],
      waits: body.returnImmediately !== true && maxEvents > 0,
    };
  };

  const read = async (q: PollRequest, ack: string[]): Promise<SsfPolled> => {
    const polled = await ssf.store.poll(q.aud, { stream: q.stream, ack, maxEvents: q.maxEvents, nowMs: nowMs(), retentionMs: ssf.retentionMs, quota: STREAM_QUOTA });
    if (!polled) throw streamsFull();
    return polled;
  };

  /**
   * Reads; with nothing to answer, waits for a wake-up (an append to the audience's stream, here or
   * on another instance) and reads again, until STS_SSF_LONG_POLL_MS has passed: then it answers
   * what it read (nothing). A resource server already holding STS_SSF_MAX_LONG_POLLS waiting polls
   * here is answered at once (RFC 8936 lets the transmitter return immediately).
   */
  const readOrWait = async (q: PollRequest, gone: AbortSignal): Promise<SsfPolled> => {
    // In place before the first read: a SET appended while it runs still wakes it.
    const waiter = q.waits ? ssf.wakeups.enter(q.aud) : undefined;
    try {
      const deadline = performance.now() + ssf.longPollMs;
      let polled = await read(q, q.ack);
      while (waiter && polled.sets.length === 0 && !polled.resync && !polled.moreAvailable) {
        waiter.saw(polled.head);
        if (!(await waiter.next(deadline - performance.now(), gone))) break;
        polled = await read(q, []);
      }
      return polled;
    } finally {
      waiter?.leave();
    }
  };

  const answer = (res: Response, polled: SsfPolled) => {
    const body: PollResponse = {
      sets: Object.fromEntries(polled.sets.map((s) => [s.jti, s.set])),
      moreAvailable: polled.moreAvailable,
      ...(polled.resync ? { resync: true } : {}),
    };
    res.json(body);
  };

  /**
   * Kills whose announcement is overdue (their answer failed, or their process died) are announced
   * before a poll reads and again before it answers: a poll never says "nothing" while a kill it
   * should have heard of is stuck in the outbox; if they cannot be announced, the poll fails (503)
   * and the resource server's feed goes stale, so a gate falls back to introspection.
   */
  const announceOverdue = async (req: Request): Promise<number> => (ssf.announcer ? ssf.announcer.drain(contextOf(req)) : 0);

  const poll = (managed: boolean) => async (req: Request, res: Response) => {
    const q = await pollRequest(req, managed);
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    await announceOverdue(req);
    let polled = await readOrWait(q, gone.signal);
    if (gone.signal.aborted) return;
    if ((await announceOverdue(req)) > 0 && polled.sets.length === 0) polled = await read(q, []);
    answer(res, polled);
  };
  r.route(`${issuerPath}/ssf/poll`).post(...jsonBody, poll(false)).all(only('POST'));
  r.route(`${issuerPath}/ssf/poll/:streamId`).post(...jsonBody, poll(true)).all(only('POST'));
  return r;
}
