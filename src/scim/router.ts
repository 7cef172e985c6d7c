import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { AGENT_ATTRIBUTES, type AttributeSpec } from '../clients/attributes.js';
import type { AgentRecord } from '../clients/records.js';
import { OAuthError, SCIM_MEDIA_TYPE, invalidRequest } from '../errors.js';
import { adminContextOf, integerParam, only, privateRouter, queryString, requireScope, type AdminRequest, type ContextOf } from '../admin/http-kit.js';
import { notFound } from '../registry/errors.js';
import type { ChangeOptions, RegistryActor, RegistryService } from '../registry/service.js';
import type { SessionService } from '../sessions/service.js';
import { patched } from './patch.js';
import { provisionedOf, resourceOf, versionOf, type Provisioned } from './resource.js';
import { filterOf, sortedBy } from './query.js';
import type { SeenRecorder } from './seen.js';
import { listResponse, MAX_BODY, MAX_COUNT, resourceTypes, schemas, serviceProviderConfig } from './schema.js';

/**
 * /scim/v2: the SCIM service provider an IdP's provisioning engine drives (RFC 7644), over the
 * registry service: every change is the registry's all-or-nothing change with its rules and
 * audit records, the provisioning client as actor. It sees and changes only the agents it
 * provisioned, and holds no admin authority: it cannot entitle an agent to admin scopes.
 */

export interface ScimDeps {
  sessions: SessionService;
  registry: RegistryService;
  contextOf: ContextOf;
  /** The absolute URL of /scim/v2 (meta.location). */
  base: string;
  /** Records that the IdP read or changed an agent (the access review's not_in_directory); absent: not recorded. */
  seen?: SeenRecorder;
}

const DEFAULT_COUNT = 100;
/** Accepted and ignored above MAX_COUNT (a provider may answer fewer than asked). */
const COUNT_CEILING = 1_000_000;
const BODY_TYPES = ['application/scim+json', 'application/json'];

const send = (res: Response, status: number, body: unknown, etag?: string) => {
  if (etag) res.set('ETag', etag);
  res.status(status).type(SCIM_MEDIA_TYPE).send(JSON.stringify(body));
};

/** A body is SCIM's JSON or plain JSON (RFC 7644 §3.1), and nothing else. */
function scimJson(req: Request, _res: Response, next: NextFunction) {
  const type = req.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
  if (!type || !BODY_TYPES.includes(type)) next(new OAuthError(415, 'invalid_request', 'send application/scim+json').scim('invalidSyntax'));
  else next();
}
const parseBody = express.json({ limit: MAX_BODY, type: () => true });

/** If-Match (RFC 7644 §3.14): any of its versions, or *, must be the agent's; else 412. */
function preconditionOf(ifMatch: string | undefined): NonNullable<ChangeOptions['precondition']> {
  const wanted = ifMatch?.split(',').map((t) => t.trim()).filter(Boolean);
  return (current: AgentRecord) => {
    if (current.source !== 'scim') throw notFound('agent');
    if (wanted && !wanted.includes('*') && !wanted.includes(versionOf(current))) {
      throw new OAuthError(412, 'invalid_request', 'If-Match: the agent has changed since that version');
    }
  };
}

const EDITABLE = Object.entries(AGENT_ATTRIBUTES).filter(([, a]) => (a as AttributeSpec).scim && a.editable) as [keyof typeof AGENT_ATTRIBUTES, AttributeSpec][];

/** The registry PATCH (merge patch) taking `current` to what the resource says; an absent attribute is cleared (or back to its default). */
function changesOf(current: AgentRecord, next: Provisioned): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [name, spec] of EDITABLE) {
    const after = next.fields[name] ?? spec.default;
    if (!isDeepStrictEqual(current[name], after)) patch[name] = mergeDiff(current[name], after);
  }
  return patch;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The registry's PATCH is a merge patch (RFC 7396): a map's key that is gone must be sent as null. */
function mergeDiff(before: unknown, after: unknown): unknown {
  if (after === undefined) return null;
  if (!isMap(before) || !isMap(after)) return after;
  return { ...Object.fromEntries(Object.keys(before).filter((k) => !Object.hasOwn(after, k)).map((k) => [k, null])), ...after };
}

export function scimRouter(d: ScimDeps): Router {
  const r = privateRouter();
  const provision = requireScope(d.sessions, 'scim:provision');
  // The provisioning client acts with no admin scope: whatever its token holds, it cannot grant one.
  const contextOf = adminContextOf(d.contextOf);
  const actor = (req: AdminRequest): RegistryActor => ({ agent: req.admin!.agent, scopes: [], context: contextOf(req) });
  const location = (id: string) => `${d.base}/Agents/${encodeURIComponent(id)}`;
  const idOf = (req: Request) => String(req.params.id);

  /** The provisioned agent the IdP names; the IdP has seen it (recorded before any change, so a failed write changes nothing). */
  async function provisioned(id: string, seen = true): Promise<AgentRecord> {
    const { record } = await d.registry.read<AgentRecord>('agent', id);
    if (record.source !== 'scim') throw notFound('agent');
    if (seen) await d.seen?.saw(id);
    return record;
  }
  const answer = async (res: Response, status: number, id: string, seen = true) => {
    const record = await provisioned(id, seen);
    send(res, status, resourceOf(record, location(id)), versionOf(record));
  };

  /**
   * Takes an agent from `current` to `next`: one registry change, or two when `active` flips too,
   * ordered so a failure between them leaves the safer state: the kill before the rest, the rest
   * before a re-enable. An error after the first says what it applied.
   */
  async function apply(req: AdminRequest, current: AgentRecord, next: Provisioned): Promise<void> {
    if (next.jwks !== undefined) throw invalidRequest('jwks: only at creation; add keys through the admin API').scim('mutability');
    const id = current.id;
    const precondition = preconditionOf(req.headers['if-match']);
    // the second change of a request: its If-Match named the version before the first
    const mineOnly: ChangeOptions = { precondition: preconditionOf(undefined) };
    const patch = changesOf(current, next);
    const update = Object.keys(patch).length > 0;
    const then = async (done: string, step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        const e = new OAuthError(err.status, err.error, `${done}; then: ${err.description ?? err.error}`, err.headers);
        throw err.scimType ? e.scim(err.scimType) : e;
      }
    };
    // a retry of a deactivation or re-activation left pending (503) completes it
    const pending = current.pending?.op;
    if (!next.active && (!current.disabled || pending === 'disable')) {
      await d.registry.disableAgent(actor(req), id, { precondition });
      if (update) await then('the agent is deactivated (every session of it is dead)', () => d.registry.updateAgent(actor(req), id, patch, mineOnly));
    } else if (next.active && (current.disabled || pending === 'enable')) {
      if (update) await d.registry.updateAgent(actor(req), id, patch, { precondition });
      await then(update ? 'the agent\'s attributes are updated' : 'nothing changed', () => d.registry.enableAgent(actor(req), id, update ? mineOnly : { precondition }));
    } else if (update) await d.registry.updateAgent(actor(req), id, patch, { precondition });
    else precondition(current);
  }

  r.use(provision);

  r.get('/ServiceProviderConfig', (_req, res) => send(res, 200, serviceProviderConfig(d.base, undefined)));
  r.get('/ResourceTypes', (_req, res) => send(res, 200, listResponse(resourceTypes(d.base), 1, 1)));
  r.get('/ResourceTypes/:id', (req, res) => {
    const found = resourceTypes(d.base).find((t) => t.id === req.params.id);
    if (!found) throw new OAuthError(404, 'not_found', 'no such resource type').scim('noTarget');
    send(res, 200, found);
  });
  r.get('/Schemas', (_req, res) => send(res, 200, listResponse(schemas(d.base), 2, 1)));
  r.get('/Schemas/:id', (req, res) => {
    const found = schemas(d.base).find((s) => s.id === req.params.id);
    if (!found) throw new OAuthError(404, 'not_found', 'no such schema').scim('noTarget');
    send(res, 200, found);
  });

  r.route('/Agents')
    .get(async (req, res) => {
      const matches = filterOf(queryString(req, 'filter'));
      const startIndex = integerParam(req, 'startIndex', { min: 1, max: COUNT_CEILING, fallback: 1 });
      const count = Math.min(MAX_COUNT, integerParam(req, 'count', { min: 0, max: COUNT_CEILING, fallback: DEFAULT_COUNT }));
      const all = (await d.registry.list<AgentRecord>('agent')).filter((a) => a.source === 'scim').map((a) => resourceOf(a, location(a.id)));
      const found = sortedBy(all.filter(matches), queryString(req, 'sortBy'), queryString(req, 'sortOrder'));
      const page = found.slice(startIndex - 1, startIndex - 1 + count);
      // a filtered query (externalId eq "…", as IdPs look an agent up) sees what it returns; a bare listing asserts nothing
      if (queryString(req, 'filter') !== undefined && d.seen) await Promise.all(page.map((a) => d.seen!.saw(String(a.id))));
      send(res, 200, listResponse(page, found.length, startIndex));
    })
    .post(scimJson, parseBody, async (req: AdminRequest, res) => {
      const next = provisionedOf(req.body);
      if (next.fields.owner === undefined) throw invalidRequest('owners: an agent needs one accountable owner').scim('invalidValue');
      const id = randomUUID();
      // no secret is handed out: the registry's first one stays unknown until an admin rotates (or the keys given here serve)
      await d.registry.createAgent(actor(req), { id, ...next.fields, ...(next.jwks !== undefined ? { jwks: next.jwks } : {}) }, 'scim');
      if (!next.active) {
        // the agent has no usable credential yet, so no session can exist between these two changes
        await d.registry.disableAgent(actor(req), id).catch((err: unknown) => {
          if (!(err instanceof OAuthError)) throw err;
          throw new OAuthError(err.status, err.error, `the agent ${id} is created (active); then: ${err.description ?? err.error}`, err.headers);
        });
      }
      res.set('Location', location(id));
      // its creation time is its first sighting: nothing to write
      await answer(res, 201, id, false);
    })
    .all(only('GET, HEAD, POST'));

  r.route('/Agents/:id')
    .get(async (req, res) => answer(res, 200, idOf(req)))
    .put(scimJson, parseBody, async (req: AdminRequest, res) => {
      const current = await provisioned(idOf(req));
      await apply(req, current, provisionedOf(req.body));
      await answer(res, 200, current.id);
    })
    .patch(scimJson, parseBody, async (req: AdminRequest, res) => {
      const current = await provisioned(idOf(req));
      preconditionOf(req.headers['if-match'])(current);
      await apply(req, current, provisionedOf(patched(resourceOf(current, location(current.id)), req.body)));
      await answer(res, 200, current.id);
    })
    .delete(async (req: AdminRequest, res) => {
      await d.registry.deleteAgent(actor(req), idOf(req), { precondition: preconditionOf(req.headers['if-match']) });
      d.seen?.forget(idOf(req));
      res.status(204).end();
    })
    .all(only('GET, HEAD, PUT, PATCH, DELETE'));

  r.use((_req, _res, next) => next(new OAuthError(404, 'not_found', 'no such SCIM endpoint').scim('noTarget')));
  return r;
}
