import type { JWK } from 'jose';
import { z } from 'zod';
import type { RequestContext } from '../audit/context.js';
import { auditUnavailable, envelope, type EventSink, type RegistryEvent } from '../audit/events.js';
import type { UsageAggregator } from '../audit/usage.js';
import { AGENT_ALIASES, AGENT_ATTRIBUTES, createFields, editableFields, editableNames, RESOURCE_SERVER_ATTRIBUTES, withAliases } from '../clients/attributes.js';
import {
  firstSecret, keyCredentials, liveCredentials, newKeyCredential, rotateSecret, type Credential, type Rotated, type RotationBody,
} from '../clients/credentials.js';
import type { LiveRegistry } from '../clients/live-registry.js';
import {
  isDeleted, readStored, type AgentRecord, type ChangeStep, type PendingChange, type RecordSource, type ResourceServerRecord, type Stored,
} from '../clients/records.js';
import { agentId, targetUri } from '../clients/attributes.js';
import { agentReferenceProblems, jwks as jwksSchema } from '../clients/registry-file.js';
import type { RegistryMode } from '../clients/seed.js';
import { ADMIN_AUDIENCE, ADMIN_SCOPES } from '../clients/types.js';
import { invalidRequest, parseInput } from '../errors.js';
import type { Clock } from '../sessions/clock.js';
import type { SessionService } from '../sessions/service.js';
import type { SessionStore } from '../store/index.js';
import type { RegistryKind, RegistryStore } from '../store/registry.js';
import type { UsageStore } from '../store/usage.js';
import { authorityNeeded, canManageNow, locksEveryoneOut, missingScopes, MANAGE } from './authority.js';
import { ChangePendingError, conflict, insufficientAuthority, notFound } from './errors.js';
import { mergePatch } from './merge-patch.js';

/** Who asks for a change: the admin agent, the admin scopes its token holds, and its request. */
export interface RegistryActor {
  agent: string;
  scopes: readonly string[];
  context: RequestContext;
}

/**
 * What a caller adds to a change of an existing agent: a check of the current record, run inside
 * the same compare-and-set as the change (SCIM: the agent is one it provisioned, its If-Match
 * version); it throws to refuse, and nothing is changed or recorded.
 */
export interface ChangeOptions {
  precondition?(current: AgentRecord): void;
}

export interface RegistryServiceDeps {
  store: RegistryStore;
  live: LiveRegistry;
  sessions: SessionService;
  sessionStore: SessionStore;
  events: EventSink;
  clock: Clock;
  mode: RegistryMode;
  /** Ids the registry file names: read-only through any API in file mode. */
  fileIds: { agents: ReadonlySet<string>; resourceServers: ReadonlySet<string> };
  /** Usage counts, forgotten when an agent is deleted (a re-created id starts with none). */
  usage?: { store: UsageStore; aggregator?: UsageAggregator; retentionDays: number };
  /** A sweep that failed: logged by the wiring file; the next sweep retries. */
  onSweepError?: (err: unknown) => void;
}

/** Compare-and-set attempts before a change racing other changes gives up (409, retry). */
const UPDATE_ATTEMPTS = 5;
/** An agent-wide scan for a narrowing kill reads at most this many of the agent's live sessions. */
const NARROWING_SCAN_LIMIT = 100_000;
/** A pending change this old was abandoned by its request (503, or its process died): any instance completes it. */
export const PENDING_GRACE_MS = 5_000;
/** How often every instance looks for abandoned changes. */
export const PENDING_SWEEP_MS = 1_000;

const agentCreateBody = withAliases(AGENT_ALIASES, z.strictObject({ id: agentId, jwks: jwksSchema.optional(), ...createFields(AGENT_ATTRIBUTES) }));
const agentEditable = withAliases(AGENT_ALIASES, z.strictObject(editableFields(AGENT_ATTRIBUTES)));
const serverCreateBody = z.strictObject({ id: targetUri, jwks: jwksSchema.optional(), ...createFields(RESOURCE_SERVER_ATTRIBUTES) });
const serverEditable = z.strictObject(editableFields(RESOURCE_SERVER_ATTRIBUTES));
/** A merge patch may name only editable fields; values are checked on the merged result. */
const patchOf = (names: string[]) => z.strictObject(Object.fromEntries(names.map((n) => [n, z.unknown().optional()])));
/** An alias is folded after the merge (tokenExchange: true adds its grant type to the merged grantTypes). */
const agentPatch = patchOf(editableNames(AGENT_ATTRIBUTES)).extend(Object.fromEntries(Object.entries(AGENT_ALIASES).map(([n, a]) => [n, a.schema.optional()])));
const serverPatch = patchOf(editableNames(RESOURCE_SERVER_ATTRIBUTES));

type RegistryRecord = AgentRecord | ResourceServerRecord;
const KIND_LABEL: Record<RegistryKind, string> = { agent: 'agent', resourceServer: 'resource server' };
const EVENT_KIND: Record<RegistryKind, 'agent' | 'resource_server'> = { agent: 'agent', resourceServer: 'resource_server' };

/** What one change computes from the current record (pure, so it can run again after a lost race). */
interface Planned<X> {
  doc: Stored<RegistryRecord>;
  steps: ChangeStep[];
  outcome: RegistryEvent;
  extra: X;
}

interface Change<X> {
  kind: RegistryKind;
  id: string;
  op: string;
  /** Computes the next record from the current one (undefined: absent or deleted); throws to refuse. */
  plan(current: Stored<RegistryRecord> | undefined, nowMs: number): Promise<Planned<X>> | Planned<X>;
  /** The admin scopes the actor must hold for this plan (finding: an admin cannot grant what it lacks). */
  authority?(current: Stored<RegistryRecord> | undefined, planned: Planned<X>): string[];
  /** Refuses a plan that would leave nobody able to manage the registry (checked at one registry version). */
  keepsAManager?: boolean;
  /** A retry of this op while the entry's same op is pending is answered by completing that one (disable, enable, delete). */
  retryCompletes?: boolean;
}

/**
 * The registry's changes, each all or nothing, whoever asks (the admin API, SCIM, the CLI through
 * the API). Every change: its request is recorded first (a trail that cannot write refuses it,
 * nothing changed); the record is then written with what remains to do (status key, kills, the
 * outcome record) in one compare-and-set, so the registry is the truth at once (every instance's
 * chain rule refuses what it no longer allows); the remaining steps run, the outcome is recorded,
 * and the pending mark is cleared. A step that fails answers 503 saying what is in force; a retry,
 * any later change of the entry, or any instance's sweep completes it.
 */
export class RegistryService {
  #sweeper: NodeJS.Timeout | undefined;
  #sweeps = 0;

  constructor(private readonly d: RegistryServiceDeps) {}

  now(): number {
    return this.d.clock.nowMs();
  }

  /** Every live (not deleted) record of a kind, sorted by id. */
  async list<R extends RegistryRecord>(kind: RegistryKind): Promise<R[]> {
    const { docs } = await this.d.store.all(kind);
    const records = [...docs.values()].map((j) => readStored<R>(kind, j)).filter((r): r is R => !isDeleted(r));
    return records.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** One live record with its credentials' last use, or a 404. */
  async read<R extends RegistryRecord>(kind: RegistryKind, id: string): Promise<{ record: R; lastUsed: Record<string, number> }> {
    const found = await this.#read<R>(kind, id);
    if (!found?.record || isDeleted(found.record)) throw notFound(KIND_LABEL[kind]);
    return { record: found.record, lastUsed: await this.d.store.lastUsed(kind, id) };
  }

  // ── agents ──

  async createAgent(actor: RegistryActor, body: unknown, source: RecordSource = 'api'): Promise<{ record: AgentRecord; secret?: string }> {
    const input = parseInput(agentCreateBody, body);
    const { jwks, ...fields } = input;
    const keys = jwks ? await keyCredentials(jwks as { keys: JWK[] }, new Date(this.now()).toISOString()) : undefined;
    let secret: string | undefined;
    const { record } = await this.#apply<null>(actor, {
      kind: 'agent', id: input.id, op: 'create',
      plan: async (cur, nowMs) => {
        if (cur && !isDeleted(cur)) throw conflict(`agent "${input.id}" exists`);
        await this.#checkReferences({ ...fields, id: input.id }, Object.keys(fields.audiences));
        const first = keys ? undefined : firstSecret(nowMs);
        secret = first?.secret;
        const iso = new Date(nowMs).toISOString();
        const doc: AgentRecord = {
          ...fields, disabled: false, credentials: first ? [first.credential] : keys!, created: iso, updated: iso, updatedBy: actor.agent, source,
        };
        // a deleted agent of that id left its status key and kill marker: the new one starts enabled
        return { doc, steps: [{ do: 'status', disabled: false }], outcome: { type: 'agent.created', agent: input.id, by: actor.agent }, extra: null };
      },
      authority: (_cur, p) => authorityNeeded({ op: 'create', after: p.doc as AgentRecord }),
    });
    return { record: record as AgentRecord, ...(secret ? { secret } : {}) };
  }

  async updateAgent(actor: RegistryActor, id: string, body: unknown, opts: ChangeOptions = {}): Promise<{ record: AgentRecord; revoked: number }> {
    const patch = parseInput(agentPatch, body);
    if (patch.owner === null) throw invalidRequest('owner: an agent keeps an accountable owner').scim('mutability');
    const names = editableNames(AGENT_ATTRIBUTES);
    const { record, revoked } = await this.#apply<null>(actor, {
      kind: 'agent', id, op: 'update', keepsAManager: true,
      plan: async (cur, nowMs) => {
        const before = this.#agent(cur, opts);
        const editable = Object.fromEntries(names.flatMap((f) => (before[f as keyof AgentRecord] === undefined ? [] : [[f, before[f as keyof AgentRecord]]])));
        const merged = parseInput(agentEditable, mergePatch(editable, patch)) as Record<string, unknown>;
        const audiences = (merged as Pick<AgentRecord, 'audiences'>).audiences;
        await this.#checkReferences({ ...(merged as Pick<AgentRecord, 'delegates' | 'audiences'>), id }, Object.keys(audiences).filter((t) => !(t in before.audiences)));
        const doc = { ...before, updated: new Date(nowMs).toISOString(), updatedBy: actor.agent } as AgentRecord & Record<string, unknown>;
        for (const f of names) {
          if (merged[f] === undefined) delete doc[f];
          else doc[f] = merged[f];
        }
        const removed = removedEntitlements(before.audiences, doc.audiences);
        return {
          doc, steps: removed.length ? [{ do: 'kill_narrowed', removed }] : [],
          outcome: { type: 'agent.updated', agent: id, by: actor.agent, fields: Object.keys(patch), revoked: 0 }, extra: null,
        };
      },
      authority: (cur, p) => authorityNeeded({ op: 'update', before: cur as AgentRecord, after: p.doc as AgentRecord }),
    });
    return { record: record as AgentRecord, revoked };
  }

  async disableAgent(actor: RegistryActor, id: string, opts: ChangeOptions = {}): Promise<{ revoked: number }> {
    return this.#apply<null>(actor, {
      kind: 'agent', id, op: 'disable', keepsAManager: true, retryCompletes: true,
      plan: (cur, nowMs) => ({
        doc: { ...this.#agent(cur, opts), disabled: true, updated: new Date(nowMs).toISOString(), updatedBy: actor.agent },
        // status first: from here no create naming the agent can store a session, on any instance
        steps: [{ do: 'status', disabled: true }, { do: 'kill_agent' }],
        outcome: { type: 'agent.disabled', agent: id, by: actor.agent, revoked: 0 }, extra: null,
      }),
    });
  }

  async enableAgent(actor: RegistryActor, id: string, opts: ChangeOptions = {}): Promise<void> {
    await this.#apply<null>(actor, {
      kind: 'agent', id, op: 'enable', retryCompletes: true,
      plan: (cur, nowMs) => ({
        doc: { ...this.#agent(cur, opts), disabled: false, updated: new Date(nowMs).toISOString(), updatedBy: actor.agent },
        steps: [{ do: 'status', disabled: false }],
        outcome: { type: 'agent.enabled', agent: id, by: actor.agent }, extra: null,
      }),
      authority: (cur) => authorityNeeded({ op: 'enable', record: cur as AgentRecord }),
    });
  }

  async deleteAgent(actor: RegistryActor, id: string, opts: ChangeOptions = {}): Promise<{ revoked: number }> {
    return this.#apply<null>(actor, {
      kind: 'agent', id, op: 'delete', keepsAManager: true, retryCompletes: true,
      plan: (cur, nowMs) => {
        this.#agent(cur, opts);
        return {
          doc: { id, deleted: new Date(nowMs).toISOString(), deletedBy: actor.agent },
          steps: [{ do: 'status', disabled: true }, { do: 'kill_agent' }, { do: 'forget_usage' }],
          outcome: { type: 'agent.deleted', agent: id, by: actor.agent, revoked: 0 }, extra: null,
        };
      },
    });
  }

  // ── resource servers ──

  async createResourceServer(actor: RegistryActor, body: unknown): Promise<{ record: ResourceServerRecord; secret?: string }> {
    const input = parseInput(serverCreateBody, body);
    if (input.id === ADMIN_AUDIENCE) throw invalidRequest(`id: "${ADMIN_AUDIENCE}" is the admin API's audience`).scim('invalidValue');
    const keys = input.jwks ? await keyCredentials(input.jwks as { keys: JWK[] }, new Date(this.now()).toISOString()) : undefined;
    let secret: string | undefined;
    const { record } = await this.#apply<null>(actor, {
      kind: 'resourceServer', id: input.id, op: 'create',
      plan: (cur, nowMs) => {
        if (cur && !isDeleted(cur)) throw conflict(`resource server "${input.id}" exists`);
        const first = keys ? undefined : firstSecret(nowMs);
        secret = first?.secret;
        const iso = new Date(nowMs).toISOString();
        const doc: ResourceServerRecord = {
          id: input.id, scopes: input.scopes, credentials: first ? [first.credential] : keys!, created: iso, updated: iso, updatedBy: actor.agent, source: 'api',
        };
        return { doc, steps: [], outcome: { type: 'resource_server.created', resourceServer: input.id, by: actor.agent }, extra: null };
      },
    });
    return { record: record as ResourceServerRecord, ...(secret ? { secret } : {}) };
  }

  async updateResourceServer(actor: RegistryActor, id: string, body: unknown): Promise<ResourceServerRecord> {
    const patch = parseInput(serverPatch, body);
    const { record } = await this.#apply<null>(actor, {
      kind: 'resourceServer', id, op: 'update',
      plan: (cur, nowMs) => {
        const before = this.#live(cur, 'resourceServer') as ResourceServerRecord;
        const merged = parseInput(serverEditable, mergePatch({ scopes: before.scopes }, patch));
        return {
          doc: { ...before, ...merged, updated: new Date(nowMs).toISOString(), updatedBy: actor.agent },
          steps: [], outcome: { type: 'resource_server.updated', resourceServer: id, by: actor.agent, fields: Object.keys(patch) }, extra: null,
        };
      },
    });
    return record as ResourceServerRecord;
  }

  async deleteResourceServer(actor: RegistryActor, id: string): Promise<void> {
    await this.#apply<null>(actor, {
      kind: 'resourceServer', id, op: 'delete',
      plan: (cur, nowMs) => {
        this.#live(cur, 'resourceServer');
        return {
          doc: { id, deleted: new Date(nowMs).toISOString(), deletedBy: actor.agent },
          steps: [], outcome: { type: 'resource_server.deleted', resourceServer: id, by: actor.agent }, extra: null,
        };
      },
    });
  }

  // ── credentials (both kinds) ──

  /** A new secret (overlapping the previous ones) or an added public key; the answer says the secret once. */
  async addCredential(actor: RegistryActor, kind: RegistryKind, id: string, body: RotationBody): Promise<Rotated['answer']> {
    const key = body.type === 'jwk' ? await newKeyCredential(body.jwk as JWK, new Date(this.now()).toISOString()) : undefined;
    const { extra } = await this.#apply<Rotated['answer']>(actor, {
      kind, id, op: 'credential',
      plan: (cur, nowMs) => {
        const before = this.#live(cur, kind);
        const live = liveCredentials(before.credentials, nowMs);
        let added: Rotated;
        if (key) {
          if (live.some((c) => c.id === key.id)) throw conflict(`credential "${key.id}" exists`);
          added = { credentials: [...live, key], answer: { id: key.id } };
        } else added = rotateSecret(live, body.type === 'secret' ? body.overlapSeconds : 0, nowMs);
        return {
          doc: withCredentials(before, added.credentials, nowMs, actor.agent), steps: [],
          outcome: this.#credentialEvent(kind, 'credential_rotated', id, {
            by: actor.agent, credential: added.answer.id, credentialType: body.type,
            ...(added.answer.previousValidUntil !== undefined ? { previousValidUntil: added.answer.previousValidUntil } : {}),
          }),
          extra: added.answer,
        };
      },
      // whoever receives a credential of an admin agent acts with its admin scopes
      ...(kind === 'agent' ? { authority: (cur: Stored<RegistryRecord> | undefined) => authorityNeeded({ op: 'credential', record: cur as AgentRecord }) } : {}),
    });
    return extra;
  }

  async deleteCredential(actor: RegistryActor, kind: RegistryKind, id: string, credentialId: string): Promise<void> {
    await this.#apply<null>(actor, {
      kind, id, op: 'credential', keepsAManager: kind === 'agent',
      plan: (cur, nowMs) => {
        const before = this.#live(cur, kind);
        const c = before.credentials.find((x) => x.id === credentialId);
        if (!c) throw notFound('credential');
        return {
          doc: withCredentials(before, before.credentials.filter((x) => x !== c), nowMs, actor.agent), steps: [],
          outcome: this.#credentialEvent(kind, 'credential_deleted', id, { by: actor.agent, credential: credentialId, credentialType: c.type }),
          extra: null,
        };
      },
    });
  }

  #credentialEvent(kind: RegistryKind, change: 'credential_rotated' | 'credential_deleted', id: string, fields: {
    by: string; credential: string; credentialType: Credential['type']; previousValidUntil?: string | null;
  }): RegistryEvent {
    return kind === 'agent' ? { type: `agent.${change}`, agent: id, ...fields } : { type: `resource_server.${change}`, resourceServer: id, ...fields };
  }

  // ── the engine ──

  /** The current record of a change that needs one: 404 for an absent or deleted entry. */
  #live(cur: Stored<RegistryRecord> | undefined, kind: RegistryKind): RegistryRecord {
    if (!cur || isDeleted(cur)) throw notFound(KIND_LABEL[kind]);
    return cur;
  }

  /** The current agent of a change, its caller's precondition met. */
  #agent(cur: Stored<RegistryRecord> | undefined, opts: ChangeOptions): AgentRecord {
    const agent = this.#live(cur, 'agent') as AgentRecord;
    opts.precondition?.(agent);
    return agent;
  }

  async #read<R extends RegistryRecord>(kind: RegistryKind, id: string): Promise<{ json: string; record: Stored<R> } | undefined> {
    const json = await this.d.store.get(kind, id);
    return json === undefined ? undefined : { json, record: readStored<R>(kind, json) };
  }

  async #apply<X>(actor: RegistryActor, change: Change<X>): Promise<{ record: Stored<RegistryRecord>; revoked: number; extra: X }> {
    const { kind, id } = change;
    this.#writable(kind, id);
    // refused input and refused authority change nothing and record no request
    const first = await this.#read(kind, id);
    const earlier = first?.record.pending;
    if (earlier && change.retryCompletes && earlier.op === change.op) {
      const revoked = await this.#complete(kind, id, actor.context, first);
      return { record: withoutPending(first.record), revoked, extra: null as X };
    }
    const dry = await change.plan(first?.record, this.now());
    const missing = missingScopes(change.authority?.(first?.record, dry) ?? [], actor.scopes).sort();
    if (missing.length) this.#deny(actor, change, missing);
    if (first?.record.pending) await this.#complete(kind, id, actor.context);
    const by = actor.agent;
    await this.d.events.record({
      type: 'registry.change_requested', ...envelope(actor.context, this.now(), by), kind: EVENT_KIND[kind], id, op: change.op, by,
    }).catch(auditUnavailable);
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const nowMs = this.now();
      const { current, write, version } = await this.#snapshot(kind, id, change.keepsAManager === true);
      if (current?.record.pending) {
        await this.#complete(kind, id, actor.context);
        continue;
      }
      const planned = await change.plan(current?.record, nowMs);
      const stillMissing = missingScopes(change.authority?.(current?.record, planned) ?? [], actor.scopes).sort();
      if (stillMissing.length) this.#deny(actor, change, stillMissing);
      if (change.keepsAManager && current && write.all && locksEveryoneOut(id, current.record as Stored<AgentRecord>,
        isDeleted(planned.doc) ? undefined : (planned.doc as AgentRecord), write.all, nowMs)) {
        throw conflict(`"${id}" is the last agent able to use ${MANAGE} (enabled, with a working credential); see docs for the break-glass path`);
      }
      const pending: PendingChange = {
        op: change.op, requestId: actor.context.requestId, ...(actor.context.adminSid ? { adminSid: actor.context.adminSid } : {}),
        by, sinceMs: nowMs, steps: planned.steps, outcome: planned.outcome,
      };
      const doc = { ...planned.doc, pending };
      const json = JSON.stringify(doc);
      const opts = { pending: true, ...(version !== undefined ? { version } : {}) };
      const stored = current ? await this.d.store.replace(kind, id, current.json, json, opts) : await this.d.store.add(kind, id, json, opts);
      if (!stored) continue;
      await this.d.live.refresh(kind, id);
      const revoked = await this.#complete(kind, id, actor.context, { json, record: doc });
      return { record: planned.doc, revoked, extra: planned.extra };
    }
    throw conflict(`the ${KIND_LABEL[kind]} changed concurrently; retry`);
  }

  /**
   * The entry, and for a guarded change of an agent that can manage the registry now every agent at
   * one registry version (the write must land at it). An agent that cannot manage it cannot lock
   * anyone out: its change is guarded by its own record's compare-and-set alone, so changes of
   * many such agents (an IdP's deprovisioning burst) do not contend on the registry's version.
   */
  async #snapshot(kind: RegistryKind, id: string, guarded: boolean) {
    if (!guarded || kind !== 'agent') {
      const current = await this.#read(kind, id);
      return { current, write: { all: undefined }, version: undefined };
    }
    const alone = await this.#read<AgentRecord>(kind, id);
    if (!alone || !canManageNow(alone.record, this.now())) return { current: alone, write: { all: undefined }, version: undefined };
    const { docs, version } = await this.d.store.all('agent');
    const json = docs.get(id);
    const all = new Map([...docs].map(([k, v]) => [k, readStored<AgentRecord>('agent', v)]));
    return { current: json === undefined ? undefined : { json, record: all.get(id)! }, write: { all }, version };
  }

  #deny(actor: RegistryActor, change: Change<unknown>, missing: string[]): never {
    this.d.events.emit({
      type: 'admin.denied', ...envelope(actor.context, this.now(), actor.agent),
      action: `${EVENT_KIND[change.kind]}.${change.op}`, target: change.id, missing, reason: 'insufficient_authority',
    });
    throw insufficientAuthority(missing);
  }

  #writable(kind: RegistryKind, id: string): void {
    const fileIds = kind === 'agent' ? this.d.fileIds.agents : this.d.fileIds.resourceServers;
    if (this.d.mode === 'file' && fileIds.has(id)) {
      throw conflict(`${KIND_LABEL[kind]} "${id}" is managed by the registry file (STS_REGISTRY_MODE=file): change the file`).scim('mutability');
    }
  }

  /**
   * Delegates exist, entitlements stay inside what each target offers (the file's rule, one copy),
   * and a target the change adds (`added`) is a registered resource server or the admin API: an
   * entitlement at a misspelt or unknown URL is refused rather than kept unusable. A target an agent
   * already holds (a file may name one served elsewhere) is left alone.
   */
  async #checkReferences(a: Pick<AgentRecord, 'id' | 'delegates' | 'audiences'>, added: readonly string[]): Promise<void> {
    const agents = new Set((await this.d.live.agents()).map((x) => x.id));
    const servers = new Map<string, readonly string[]>();
    for (const target of Object.keys(a.audiences)) {
      const rs = await this.d.live.resourceServer(target);
      if (rs) servers.set(target, rs.scopes);
    }
    const unknown = added.find((t) => t !== ADMIN_AUDIENCE && !servers.has(t));
    if (unknown !== undefined) {
      throw invalidRequest(`audiences['${unknown}']: no resource server '${unknown}' is registered (register it first: POST /admin/resource-servers)`).scim('invalidValue');
    }
    const [problem] = agentReferenceProblems(a, {
      hasAgent: (x) => agents.has(x), offered: (t) => (t === ADMIN_AUDIENCE ? ADMIN_SCOPES : servers.get(t)),
    });
    if (problem) throw invalidRequest(problem).scim('invalidValue');
  }

  /**
   * Runs a pending change's remaining steps, records its outcome and clears the mark; resolves the
   * sessions its kills removed. Idempotent: a step already done does nothing the second time, and
   * a change another request already completed is left alone. A failure is a ChangePendingError.
   */
  async #complete(kind: RegistryKind, id: string, by: RequestContext, known?: { json: string; record: Stored<RegistryRecord> }): Promise<number> {
    const found = known ?? (await this.#read(kind, id));
    const p = found?.record.pending;
    if (!found || !p) return 0;
    const context: RequestContext = { requestId: p.requestId, startedMs: this.now(), ...(p.adminSid ? { adminSid: p.adminSid } : {}) };
    const remaining = [...p.steps.map((s) => s.do), 'record'];
    let revoked = 0;
    try {
      for (const step of p.steps) revoked += await this.#run(id, step, p.by, context);
      const late = by.requestId !== p.requestId;
      // a late completion's kills found their sessions already dead: announce what the first attempt could not
      if (late && p.steps.some((s) => s.do.startsWith('kill'))) await this.d.sessions.announceUnannounced(by);
      await this.d.events.record({
        ...(p.outcome as RegistryEvent), ...('revoked' in p.outcome ? { revoked } : {}), ...(late ? { completes: p.requestId } : {}),
        ...envelope(late ? by : context, this.now(), p.by),
      });
    } catch (err) {
      if (err instanceof ChangePendingError) throw err;
      throw new ChangePendingError(`${KIND_LABEL[kind]} "${id}"`, p.op, remaining, err);
    }
    // Complete and recorded: a mark that cannot be cleared now only shows as pending until a sweep clears it.
    await this.#clear(kind, id, found.json, p.requestId).catch(() => {});
    return revoked;
  }

  async #run(id: string, step: ChangeStep, by: string, context: RequestContext): Promise<number> {
    switch (step.do) {
      case 'status':
        if (step.disabled) await this.d.sessionStore.setAgentDisabled(id, true);
        else await this.d.sessionStore.enableAgent(id, this.now());
        return 0;
      case 'kill_agent':
        return this.d.sessions.revokeAgent(id, by, context);
      case 'kill_narrowed':
        return this.#killNarrowed(id, new Map(step.removed.map(([t, s]) => [t, s ? new Set(s) : null])), by, context);
      case 'forget_usage':
        this.d.usage?.aggregator?.forget(id);
        await this.d.usage?.store.forget(id, this.d.usage.retentionDays, this.now());
        return 0;
    }
  }

  /** Narrowing takes effect on live sessions: the chain rule already refuses them; killing them makes it hold in the store too. */
  async #killNarrowed(id: string, removed: Map<string, Set<string> | null>, by: string, context: RequestContext): Promise<number> {
    let revoked = 0;
    for (const s of await this.d.sessions.list({ agent: id }, NARROWING_SCAN_LIMIT)) {
      const gone = removed.get(s.aud);
      if (gone === undefined || (gone !== null && !s.scope.some((x) => gone.has(x)))) continue;
      revoked += await this.d.sessions.revokeTree(s.sid, by, 'entitlement', context);
    }
    return revoked;
  }

  /** Clears the pending mark of that request's change, unless another completion already did. */
  async #clear(kind: RegistryKind, id: string, json: string, requestId: string): Promise<void> {
    let expected: string | undefined = json;
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS && expected !== undefined; attempt++) {
      const record = JSON.parse(expected) as Stored<RegistryRecord>;
      if (record.pending?.requestId !== requestId) return;
      if (await this.d.store.replace(kind, id, expected, JSON.stringify(withoutPending(record)), { pending: false })) {
        await this.d.live.refresh(kind, id);
        return;
      }
      expected = await this.d.store.get(kind, id);
    }
  }

  /** Completes every change abandoned for PENDING_GRACE_MS; resolves how many. */
  async completeAbandoned(context: RequestContext): Promise<number> {
    let done = 0;
    for (const { kind, id } of await this.d.store.pending()) {
      const found = await this.#read(kind, id);
      const p = found?.record.pending;
      if (!p) {
        // a mark whose change was completed but whose clearing write was lost: clear the mark
        if (found) await this.d.store.replace(kind, id, found.json, found.json, { pending: false });
        continue;
      }
      if (p.sinceMs > this.now() - PENDING_GRACE_MS) continue;
      await this.#complete(kind, id, context, found);
      done++;
    }
    return done;
  }

  start(): void {
    this.#sweeper = setInterval(() => {
      this.completeAbandoned({ requestId: `sweep-${++this.#sweeps}`, startedMs: this.now() }).catch((err: unknown) => this.d.onSweepError?.(err));
    }, PENDING_SWEEP_MS).unref();
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}

/** (target → scopes) the narrowing removed; a removed target maps to null (every scope there). */
function removedEntitlements(before: Record<string, string[]>, after: Record<string, string[]>): [string, string[] | null][] {
  const out: [string, string[] | null][] = [];
  for (const [target, scopes] of Object.entries(before)) {
    if (!Object.hasOwn(after, target)) out.push([target, null]);
    else {
      const gone = scopes.filter((s) => !after[target]!.includes(s));
      if (gone.length) out.push([target, gone]);
    }
  }
  return out;
}

function withoutPending<R extends Stored<RegistryRecord>>(record: R): R {
  const done = { ...record };
  delete done.pending;
  return done;
}

const withCredentials = (cur: RegistryRecord, credentials: Credential[], nowMs: number, by: string): RegistryRecord =>
  ({ ...cur, credentials, updated: new Date(nowMs).toISOString(), updatedBy: by });

