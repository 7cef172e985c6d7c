import { rootOf } from './types.js';

/**
 * Every Redis key agent-sts writes is built here.
 *
 * Cluster layout: a session tree lives in one hash slot. A child's sid starts with its root's sid
 * (`<root>.<random>`), and every tree key carries the root as hash tag (`sts:{<root>}:s:<sid>`), so
 * the scripts that walk a tree (kill, ancestor checks, subtree) stay inside one slot. Indexes
 * (by agent, by subject, all) live in their own slots; on a cluster they are written before the
 * session, so a kill that reads an index can never miss a session; see RedisSessionStore. An
 * agent's kill marker and status key share its index's slot. The live registry's keys share one
 * hash tag (`{reg}`), so a change and its version bump are one atomic script.
 */
export interface RedisKeys {
  /** Prefix of every key of the tree `sid` belongs to; scripts append `s:`/`c:`/`x:` + sid. */
  tree(sid: string): string;
  /** HASH: one session record; expires with the session. */
  session(sid: string): string;
  /** SET: child session ids of a session; expires no earlier than its children. */
  children(sid: string): string;
  /** STRING: tombstone of a killed session, so a create still in flight for it fails. */
  revoked(sid: string): string;
  /** SET: the tree's killed session ids (see KILLED_SET_SUFFIX). */
  killed(sid: string): string;
  /** HASH sid → JSON UnannouncedSession: the tree's kill outbox (see OUTBOX_SUFFIX). */
  outbox(sid: string): string;
  /** LIST: a tree kill's walk, the descendants still to remove (see WALK_SUFFIX); one per kill and tree. */
  walk(sid: string, killId: string): string;
  /**
   * ZSET `<root>|<kill id>` → when the kill began (ms): trees whose outbox a kill is filling, written
   * before the kill, so an outbox is never filled without being findable. One slot of its own.
   */
  unannounced(): string;
  /** ZSET sid→exp(ms): sessions an agent holds or acts in. */
  agentIndex(agentId: string): string;
  /**
   * STRING ms: an agent-wide kill's "not before" marker (see AGENT_KILL_MARKER_TTL_MS). Same hash
   * tag as the agent's index, so on a cluster the index entry and the marker check are one step.
   */
  agentKillMarker(agentId: string): string;
  /**
   * STRING: present ('disabled') while the agent is disabled or deleted. Same hash tag as the
   * agent's index, so the create checks it in the step that writes the index entry.
   */
  agentStatus(agentId: string): string;
  /** HASH id→JSON: the live registry's agents; one slot, read whole when an instance (re)loads. */
  registryAgents(): string;
  /** HASH id→JSON: the live registry's resource servers. */
  registryResourceServers(): string;
  /** STRING integer: bumped on every registry change; instances poll it to catch a missed message. */
  registryVersion(): string;
  /** Pub/sub channel on which registry changes are announced (`agent:<id>` / `resourceServer:<id>`). */
  registryChannel(): string;
  /** SET `<kind>:<id>`: entries whose change is applied in the registry but not yet completed (status, kill, record). */
  registryPending(): string;
  /** HASH `<kind>\0<id>\0<credential>`→ms: when each credential was last used (coarse). */
  credentialLastUsed(): string;
  /** ZSET sid→exp(ms): sessions by subject. */
  subjectIndex(sub: string): string;
  /** ZSET sid→exp(ms): every live session. */
  allSessions(): string;
  /** STRING: a used single-use id of one kind (see USED_ONCE_SPACES); expires when the id could no longer be accepted. */
  usedOnce(space: ReplaySpace, id: string): string;
  /** Prefix of rate-limit counters (rate-limiter-flexible appends ':<key>'). */
  rateLimit(kind: 'ip' | 'client'): string;
  /** STREAM: the hash-chained audit trail (fields seq, prev, hash, body). One slot with its head and checkpoint. */
  auditStream(): string;
  /** HASH seq, hash: the trail's newest link, kept apart so trimming never loses it. */
  auditHead(): string;
  /** STRING: the latest signed checkpoint (compact JWS). */
  auditCheckpoint(): string;
  /** HASH usage field → count, for one UTC day (see store/usage.ts); one slot with usageLast. */
  usageCounts(day: string): string;
  /** HASH usage field → last time (ms), for one UTC day. */
  usageLast(day: string): string;
  /** HASH agent id → ms: when the IdP last read or changed each SCIM-provisioned agent (store/scim-seen.ts). */
  scimSeen(): string;
  /** HASH resource server id → JSON ProbeSummary: each one's last enforcement probe (store/probes.ts). */
  probes(): string;
  /** HASH resource server id → JSON ProbeTarget: what the server's scheduled probe calls (store/probes.ts). */
  probeTargets(): string;
  /** STRING holder, PX the probe interval: the instance that probes that resource server this interval. */
  probeLease(resourceServer: string): string;
  /** STREAM (fields jti, set): the SETs for one audience (resource server), kept for the SSF retention window. */
  ssfStream(aud: string): string;
  /** STRING stream id: the newest entry retention trimmed (XTRIM records none). Same slot as the stream. */
  ssfTrimmed(aud: string): string;
  /** STRING stream id: up to where a subscriber of `aud` acknowledged everything. Same slot as the stream. */
  ssfCursor(aud: string, stream: string): string;
  /** SET of jtis: what that subscriber acknowledged beyond its cursor. */
  ssfAcked(aud: string, stream: string): string;
  /** HASH: the audience's push target (endpoint, authorization) and delivery state. Same slot as the stream. */
  ssfPush(aud: string): string;
  /** STRING: which instance delivers the audience's pushes, for a few seconds at a time. */
  ssfPushLease(aud: string): string;
  /** SET: audiences with a push target. */
  ssfPushAudiences(): string;
  /** HASH stream id → configuration JSON: the audience's managed streams (SSF stream management). */
  ssfStreamConfigs(aud: string): string;
  /**
   * ZSET stream name → last poll (ms): the positions subscribers made by naming a stream in a poll;
   * with the managed streams, bounded per audience. Same slot as the stream.
   */
  ssfPositions(aud: string): string;
  /** STRING ms: when a managed stream's last verification SET was appended (SSF 1.0 min_verification_interval). */
  ssfVerified(aud: string, stream: string): string;
  /** Pub/sub channel: the audience whose stream was appended to (long polls on every instance wake). */
  ssfAppended(): string;
}

/** Suffixes the tree scripts append to `tree(sid)`; kept here with the rest of the layout. */
export const TREE_KEY = { session: 's:', children: 'c:', revoked: 'x:' } as const;

/**
 * What the kill script appends to `tree(sid)` for the tree's SET of killed session ids (expiring
 * with the longest-lived of them), so a killed token presented again can be recognised.
 */
export const KILLED_SET_SUFFIX = 'k';

/**
 * What the kill script appends to `tree(sid)` for the tree's outbox: the sessions a tagged kill
 * removed whose announcement has not been confirmed, expiring with the longest-lived of them.
 */
export const OUTBOX_SUFFIX = 'o';

/**
 * What a tree kill appends to `tree(sid)`, then its kill id (KillTag.id; '' for an untagged kill),
 * for its walk: the sessions whose children the kill has still to remove, step by step (see
 * REVOKE_TREE in redis/scripts.ts), kept no longer than the children sets it points to.
 */
export const WALK_SUFFIX = 'w:';

/** Separates a tree's root from the kill id in the members of `unannounced()` (neither contains it). */
export const MARK_SEPARATOR = '|';

/**
 * What each kind of single-use id is spent for, and the key space it is spent in: a client
 * assertion's jti, a DPoP proof's jti and an ID-JAG's jti never share a key, whatever their values.
 * The ids are base64url digests (never a ':'), so the spaces cannot meet; client assertions keep
 * the space they have always had, so a rolling upgrade forgets no used assertion.
 */
export const USED_ONCE_SPACES = { 'client-assertion': 'once:', 'dpop-proof': 'once:dpop:', 'id-jag': 'once:idjag:' } as const;
export type ReplaySpace = keyof typeof USED_ONCE_SPACES;

/** What an agent's kill marker appends to the agent's index key. */
export const AGENT_KILL_MARKER_SUFFIX = ':nb';

/** What an agent's status key appends to the agent's index key. */
export const AGENT_STATUS_SUFFIX = ':st';

export function redisKeys(prefix: string): RedisKeys {
  const tree = (sid: string) => `${prefix}{${rootOf(sid)}}:`;
  return {
    tree,
    session: (sid) => tree(sid) + TREE_KEY.session + sid,
    children: (sid) => tree(sid) + TREE_KEY.children + sid,
    revoked: (sid) => tree(sid) + TREE_KEY.revoked + sid,
    killed: (sid) => tree(sid) + KILLED_SET_SUFFIX,
    outbox: (sid) => tree(sid) + OUTBOX_SUFFIX,
    walk: (sid, killId) => tree(sid) + WALK_SUFFIX + killId,
    unannounced: () => `${prefix}kills:unannounced`,
    agentIndex: (id) => `${prefix}ag:{${id}}`,
    agentKillMarker: (id) => `${prefix}ag:{${id}}${AGENT_KILL_MARKER_SUFFIX}`,
    agentStatus: (id) => `${prefix}ag:{${id}}${AGENT_STATUS_SUFFIX}`,
    registryAgents: () => `${prefix}{reg}:agents`,
    registryResourceServers: () => `${prefix}{reg}:rs`,
    registryVersion: () => `${prefix}{reg}:version`,
    registryChannel: () => `${prefix}{reg}:changed`,
    registryPending: () => `${prefix}{reg}:pending`,
    credentialLastUsed: () => `${prefix}{reg}:lastused`,
    subjectIndex: (sub) => `${prefix}sub:{${sub}}`,
    allSessions: () => `${prefix}all`,
    usedOnce: (space, id) => `${prefix}${USED_ONCE_SPACES[space]}${id}`,
    rateLimit: (kind) => `${prefix}rl:${kind}`,
    auditStream: () => `${prefix}{audit}:trail`,
    auditHead: () => `${prefix}{audit}:head`,
    auditCheckpoint: () => `${prefix}{audit}:checkpoint`,
    usageCounts: (day) => `${prefix}{usage:${day}}:n`,
    usageLast: (day) => `${prefix}{usage:${day}}:t`,
    probes: () => `${prefix}probes`,
    scimSeen: () => `${prefix}scim:seen`,
    probeTargets: () => `${prefix}probe-targets`,
    probeLease: (rs) => `${prefix}probe-lease:${rs}`,
    ssfStream: (aud) => `${prefix}{ssf:${aud}}:sets`,
    ssfTrimmed: (aud) => `${prefix}{ssf:${aud}}:trimmed`,
    ssfCursor: (aud, stream) => `${prefix}{ssf:${aud}}:cursor:${stream}`,
    ssfAcked: (aud, stream) => `${prefix}{ssf:${aud}}:acked:${stream}`,
    ssfPush: (aud) => `${prefix}{ssf:${aud}}:push`,
    ssfPushLease: (aud) => `${prefix}{ssf:${aud}}:push-lease`,
    ssfPushAudiences: () => `${prefix}ssf:pushing`,
    ssfStreamConfigs: (aud) => `${prefix}{ssf:${aud}}:streams`,
    ssfPositions: (aud) => `${prefix}{ssf:${aud}}:positions`,
    ssfVerified: (aud, stream) => `${prefix}{ssf:${aud}}:verified:${stream}`,
    ssfAppended: () => `${prefix}ssf:appended`,
  };
}
