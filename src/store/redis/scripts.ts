import { MS_PER_EXP_UNIT } from '../liveness.js';
import { KILLED_SET_SUFFIX, OUTBOX_SUFFIX, TREE_KEY } from '../keys.js';
import { AUDIT_APPEND_LUA } from './audit-scripts.js';
import { KILLED_SESSION_FIELDS } from '../types.js';
import { CLAIMS_READ, FIELD, REMOVED_READ, SESSION_FIELDS, SESSION_READ, type FieldRead } from './codec.js';

/**
 * Lua scripts. Each one touches a single session tree, whose keys share one hash slot (see
 * keys.ts), or one agent's index and marker (one slot too), so they run atomically on a single
 * Redis and on Redis Cluster alike. A tree kill and an exchange under that tree are therefore
 * strictly ordered, and introspection is one round trip. Scripts get the tree's key prefix as ARGV
 * and append the suffixes from keys.ts. Field names and positions come from codec.ts; KEYS and
 * ARGV are laid out by name (`layout`), so no script counts positions by hand.
 */

type Slot = 'int' | 'string';

/** Named KEYS or ARGV: Lua locals in that order, the first free position, and a builder for the caller. */
export interface Layout<N extends string, V> {
  readonly lua: string;
  /** Position of the first value after the named ones (a variadic tail starts here). */
  readonly next: number;
  build(values: Readonly<Record<N, V>>): V[];
}

function layout<N extends string, V>(table: 'KEYS' | 'ARGV', names: readonly N[], slotOf: (n: N) => Slot): Layout<N, V> {
  const lua = names
    .map((n, i) => (slotOf(n) === 'int' ? `local ${n} = int_arg(${table}[${i + 1}], '${n}')` : `local ${n} = ${table}[${i + 1}]`))
    .join('\n');
  return { lua, next: names.length + 1, build: (values) => names.map((n) => values[n]) };
}

const keys = <const N extends string>(...names: N[]) => layout<N, string>('KEYS', names, () => 'string');
/** `int` slots are checked in Lua before anything is written (an error reply, never a partial write). */
const argv = <const S extends Record<string, Slot>>(slots: S) =>
  layout<Extract<keyof S, string>, string | number>('ARGV', Object.keys(slots) as Extract<keyof S, string>[], (n) => slots[n]);

const luaRead = (read: FieldRead) =>
  `{ fields = { ${read.fields.map((f) => `'${f}'`).join(', ')} }, at = { ${Object.entries(read.at).map(([p, i]) => `${p} = ${i! + 1}`).join(', ')} } }`;

const PRELUDE = `
local function int_arg(v, name)
  local n = tonumber(v)
  if not n or n ~= math.floor(n) or math.abs(n) >= 2^53 then
    error({ err = 'ERR ' .. name .. ' must be an integer, got ' .. tostring(v) })
  end
  return n
end
local function session_key(tree, sid) return tree .. '${TREE_KEY.session}' .. sid end
local function children_key(tree, sid) return tree .. '${TREE_KEY.children}' .. sid end
`;

/**
 * The liveness rule of liveness.ts, spelt for Redis in two halves, so a read checks a chain of any
 * depth with one command. Expiry: CREATE stores a session's exp capped at its ancestors' (read
 * there anyway), so a session is past an ancestor's expiry exactly when it is past its own. Kills:
 * a kill deletes the whole subtree in one step, and a record removed any other way (an operator,
 * an eviction) must still end its descendants, so every ancestor's record must exist: one EXISTS.
 */
const LIVENESS = `${PRELUDE}
local function unexpired(exp, nowMs) return exp and tonumber(exp) * ${MS_PER_EXP_UNIT} > nowMs end
local function ancestors_live(anc, tree, nowMs)
  local keys = {}
  for a in string.gmatch(anc or '', '%S+') do keys[#keys + 1] = session_key(tree, a) end
  return #keys == 0 or redis.call('EXISTS', unpack(keys)) == #keys
end
-- the earliest expiry among the ancestors (nil when there are none), false when one has no record
local function ancestors_exp(anc, tree)
  local earliest
  for a in string.gmatch(anc or '', '%S+') do
    local exp = tonumber(redis.call('HGET', session_key(tree, a), '${FIELD.exp}'))
    if not exp then return false end
    if not earliest or exp < earliest then earliest = exp end
  end
  return earliest
end
local function chain_live(exp, anc, tree, nowMs) return unexpired(exp, nowMs) and ancestors_live(anc, tree, nowMs) end
local function token_live(row, at, tokenHash, tree, nowMs)
  return row[at.tokenHash] == tokenHash and chain_live(row[at.exp], row[at.ancestors], tree, nowMs)
end
`;

/**
 * Sets a key's expiry to expMs unless it already lives longer (PEXPIRETIME, Redis 7: -1 when the
 * key has none). Sessions issued within one second share an expiry, so this is usually one read.
 */
const EXTEND = `
local function extend(key, expMs)
  if redis.call('PEXPIRETIME', key) < expMs then redis.call('PEXPIREAT', key, expMs) end
end
`;

/**
 * Index entries are pruned only this long after their expiry: the score comes from one instance's
 * clock, and an entry pruned early would hide a still-live session from an agent-wide kill.
 */
const INDEX_PRUNE_GRACE_MS = 300_000;

/**
 * `marked`: an agent-wide kill's marker says a request that arrived at startedMs came too early.
 * `index_add`: one index entry, the index's TTL kept ahead of it, long-expired entries pruned.
 */
const INDEXING = `
local function marked(markerKey, startedMs)
  local m = redis.call('GET', markerKey)
  return m and tonumber(m) >= startedMs
end
local function index_add(key, sid, expMs, nowMs, prune)
  if prune == '1' then redis.call('ZREMRANGEBYSCORE', key, '-inf', nowMs - ${INDEX_PRUNE_GRACE_MS}) end
  redis.call('ZADD', key, expMs, sid)
  extend(key, expMs)
end
`;

export const CREATE_KEYS = keys('sessionKey', 'childrenKey', 'tombstoneKey');
export const CREATE_ARGS = argv({
  nowMs: 'int', startedMs: 'int', expMs: 'int', sid: 'string', tree: 'string', anc: 'string', prune: 'string', indexCount: 'int', namedCount: 'int',
  audit: 'string', auditBody: 'string', auditDigest: 'string', auditMaxRecords: 'int', auditMinTimeMs: 'int',
});

/**
 * Stores a session, atomically checking what may refuse it; a refusal writes nothing.
 * KEYS: CREATE_KEYS (childrenKey is the session key again for a root), then `indexCount` indexes,
 * then the kill marker of every agent the session names (`namedCount` of them), then the status key
 * of each of those agents in the same order. A single Redis passes them all (one step); a cluster
 * passes none (its INDEX_ADD calls, in the indexes' own slots, checked markers and status keys).
 * With `audit` '1' (single Redis, trail on) the last two KEYS are the audit stream and head, and a
 * created session's `token.issued` record (auditBody, auditDigest) is appended in the same step.
 * ARGV: CREATE_ARGS, then the record's field/value pairs.
 * Returns a CreateOutcome; with an appended record, { 'created', seq, hash, prev }. The session's own tombstone means an agent-wide kill found its index
 * entry while this create was in flight (nothing else knows a sid before it is stored).
 */
export const CREATE = `${LIVENESS}${EXTEND}${INDEXING}${AUDIT_APPEND_LUA}
${CREATE_KEYS.lua}
${CREATE_ARGS.lua}
if redis.call('EXISTS', tombstoneKey) == 1 then return 'agent_revoked' end
local ancExp = ancestors_exp(anc, tree)
if ancExp == false or (ancExp and not unexpired(ancExp, nowMs)) then return 'ancestor_revoked' end
local markersFrom = ${CREATE_KEYS.next} + indexCount
local statusFrom = markersFrom + namedCount
for i = statusFrom, statusFrom + namedCount - 1 do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 'agent_disabled' end
end
for i = markersFrom, statusFrom - 1 do
  if marked(KEYS[i], startedMs) then return 'agent_revoked' end
end
if not (expMs > nowMs) then return 'expired' end
local appended
if audit == '1' then
  appended = audit_append(KEYS[#KEYS - 1], KEYS[#KEYS], auditBody, auditDigest, auditMaxRecords, auditMinTimeMs)
end
redis.call('HSET', sessionKey, unpack(ARGV, ${CREATE_ARGS.next}))
-- never outlive an ancestor (see LIVENESS); the service's grants already cap a child's expiry
if ancExp and ancExp * ${MS_PER_EXP_UNIT} < expMs then
  expMs = ancExp * ${MS_PER_EXP_UNIT}
  redis.call('HSET', sessionKey, '${FIELD.exp}', ancExp)
end
redis.call('PEXPIREAT', sessionKey, expMs)
if childrenKey ~= sessionKey then
  redis.call('SADD', childrenKey, sid)
  extend(childrenKey, expMs)
end
for i = ${CREATE_KEYS.next}, markersFrom - 1 do index_add(KEYS[i], sid, expMs, nowMs, prune) end
if appended then return { 'created', appended[1], appended[2], appended[3] } end
return 'created'
`;

export const INDEX_ADD_KEYS = keys('indexKey');
export const INDEX_ADD_ARGS = argv({ nowMs: 'int', startedMs: 'int', expMs: 'int', sid: 'string', prune: 'string' });

/**
 * Cluster: adds the sid to one index (keeping its TTL ahead of its newest entry, pruning when
 * asked), unless the agent's status key or kill marker refuses the request. KEYS: INDEX_ADD_KEYS,
 * then for an agent's index that agent's marker and status key (same slot); other indexes have none.
 * Atomic with the entry: either refused here, or the entry exists before a kill reads the index.
 * Returns 'created', 'agent_disabled' or 'agent_revoked'.
 */
export const INDEX_ADD = `${PRELUDE}${EXTEND}${INDEXING}
${INDEX_ADD_KEYS.lua}
${INDEX_ADD_ARGS.lua}
local markerKey = KEYS[${INDEX_ADD_KEYS.next}]
local statusKey = KEYS[${INDEX_ADD_KEYS.next} + 1]
if not (expMs > nowMs) then return 'expired' end
if statusKey and redis.call('EXISTS', statusKey) == 1 then return 'agent_disabled' end
if markerKey and marked(markerKey, startedMs) then return 'agent_revoked' end
index_add(indexKey, sid, expMs, nowMs, prune)
return 'created'
`;

export const MARK_KEYS = keys('markerKey');
export const MARK_ARGS = argv({ marker: 'int', ttlMs: 'int' });

/** An agent-wide kill's first step: the marker, never lowered (another instance may have set a later one). */
export const MARK_AGENT_KILLED = `${PRELUDE}
${MARK_KEYS.lua}
${MARK_ARGS.lua}
local old = tonumber(redis.call('GET', markerKey))
if old and old > marker then redis.call('PEXPIRE', markerKey, ttlMs)
else redis.call('SET', markerKey, marker, 'PX', ttlMs) end
return 1
`;

export const FIND_KEYS = keys('sessionKey');
export const FIND_ARGS = argv({ tokenHash: 'string', nowMs: 'int', tree: 'string', read: 'string', anyAud: 'string', aud: 'string' });

/**
 * Finds a live session by token (a root has no ancestors, so the store reads it with one HMGET).
 * `read`: 'claims' (CLAIMS_READ: each field read and returned costs, and introspection needs no
 * more) or 'session'. `anyAud` '1': any audience; otherwise a session whose audience is not `aud`
 * is answered nil before any ancestor is read, so its answer costs what a dead token's does.
 * Returns the row (that read's field order) or nil.
 */
export const FIND_BY_TOKEN = `${LIVENESS}
${FIND_KEYS.lua}
${FIND_ARGS.lua}
local r
if read == 'claims' then r = ${luaRead(CLAIMS_READ)} else r = ${luaRead(SESSION_READ)} end
local row = redis.call('HMGET', sessionKey, unpack(r.fields))
if anyAud ~= '1' and row[r.at.aud] ~= aud then return nil end
if not token_live(row, r.at, tokenHash, tree, nowMs) then return nil end
return row
`;

export const SUBTREE_KEYS = keys('sessionKey');
export const SUBTREE_ARGS = argv({ sid: 'string', nowMs: 'int', tree: 'string' });

/**
 * Returns {sid, row, ...} (SESSION_READ rows) for the live session and its live descendants,
 * breadth first; empty when the session is not live.
 */
export const SUBTREE = `${LIVENESS}
${SUBTREE_KEYS.lua}
${SUBTREE_ARGS.lua}
local r = ${luaRead(SESSION_READ)}
local out, queue, i = {}, { sid }, 1
while i <= #queue do
  local id, top = queue[i], i == 1
  i = i + 1
  local row = redis.call('HMGET', session_key(tree, id), unpack(r.fields))
  -- the top's ancestors are checked once; below it, every ancestor is on the way down
  local live
  if top then live = chain_live(row[r.at.exp], row[r.at.ancestors], tree, nowMs)
  else live = unexpired(row[r.at.exp], nowMs) end
  if live then
    out[#out + 1] = id
    out[#out + 1] = row
    for _, child in ipairs(redis.call('SMEMBERS', children_key(tree, id))) do queue[#queue + 1] = child end
  elseif top then return {} end
end
return out
`;

/** The outbox entry (an UnannouncedSession) of the removed session `id` with its REMOVED_READ `row`: its killed-session fields, the kill and why. */
const LUA_UNANNOUNCED = `{ ${KILLED_SESSION_FIELDS.map((f) => (f === 'sid' ? 'sid = id' : SESSION_FIELDS[f].kind === 'int' ? `${f} = tonumber(row[r.at.${f}])` : `${f} = row[r.at.${f}]`)).join(', ')}, kill = kill, reason = reason }`;

export const REVOKE_KEYS = keys('sessionKey', 'tombstoneKey', 'walkKey');
export const REVOKE_ARGS = argv({ sid: 'string', tree: 'string', nowMs: 'int', tombstoneUntilMs: 'int', kill: 'string', reason: 'string' });

/**
 * What a kill does with each session it removes (`row` its REMOVED_READ fields, already read): a
 * live one joins the tree's killed set (KILLED_SET_SUFFIX) and, with `kill` (a request id; empty:
 * no outbox), the tree's outbox (OUTBOX_SUFFIX) until its announcement is confirmed; then the record
 * goes. `removal` collects the rows to return and the writes, which `removal_end` makes as one
 * command each (per-session calls were most of a walk step's cost), the killed set and the outbox
 * kept until the longest-lived of the sessions would have expired.
 */
const REMOVAL = `
local function removal_start(tree, kill, reason)
  -- rows[1] is left for the script's state: the reply is returned without unpack (Lua's limit is ~8,000)
  return { tree = tree, kill = kill, reason = reason, rows = { 0 }, untilMs = 0, killed = {}, outbox = {}, records = {},
    killedKey = tree .. '${KILLED_SET_SUFFIX}', outboxKey = tree .. '${OUTBOX_SUFFIX}' }
end
local function remove_session(removal, r, id, row, nowMs)
  if unexpired(row[r.at.exp], nowMs) then
    local rows, outbox, kill, reason = removal.rows, removal.outbox, removal.kill, removal.reason
    rows[#rows + 1] = id
    rows[#rows + 1] = row
    removal.killed[#removal.killed + 1] = id
    if kill ~= '' then
      outbox[#outbox + 1] = id
      outbox[#outbox + 1] = cjson.encode(${LUA_UNANNOUNCED})
    end
    removal.untilMs = math.max(removal.untilMs, tonumber(row[r.at.exp]) * ${MS_PER_EXP_UNIT})
  end
  removal.records[#removal.records + 1] = session_key(removal.tree, id)
end
local function removal_end(removal)
  if #removal.records > 0 then redis.call('DEL', unpack(removal.records)) end
  if #removal.killed > 0 then
    redis.call('SADD', removal.killedKey, unpack(removal.killed))
    extend(removal.killedKey, removal.untilMs)
  end
  if #removal.outbox > 0 then
    redis.call('HSET', removal.outboxKey, unpack(removal.outbox))
    extend(removal.outboxKey, removal.untilMs)
  end
end
`;

/**
 * A tree kill's first step, O(1) whatever the subtree: the tombstone (until tombstoneUntilMs, or the
 * session's own expiry when later) makes a create of that sid still in flight fail, and the session's
 * record goes. That alone ends every descendant at once: reads and creates require every ancestor's
 * record (LIVENESS). The descendants' records are then removed by REVOKE_WALK in bounded steps, so no
 * kill holds Redis for longer than one step, however large the tree: when the session has children,
 * it is pushed on the kill's walk (`walkKey`, a LIST in the tree's slot: at index 0 a header, JSON
 * {kill, reason, at}, `at` the last step's time; then the sids whose children are still to remove).
 * Returns {pending, sid, row, ...}: `pending` 1 while the walk has work, then the REMOVED_READ row
 * of the session if it was live, so the caller can drop its index entries (in other slots).
 */
export const REVOKE_TREE = `${LIVENESS}${EXTEND}${REMOVAL}
${REVOKE_KEYS.lua}
${REVOKE_ARGS.lua}
local r = ${luaRead(REMOVED_READ)}
local untilMs = tombstoneUntilMs
local row = redis.call('HMGET', sessionKey, unpack(r.fields))
if row[r.at.exp] then untilMs = math.max(untilMs, tonumber(row[r.at.exp]) * ${MS_PER_EXP_UNIT}) end
if untilMs > nowMs then redis.call('SET', tombstoneKey, '1', 'PXAT', untilMs) end
local removal = removal_start(tree, kill, reason)
if row[r.at.agent] then
  local parent = row[r.at.parent]
  if parent and parent ~= '' then redis.call('SREM', children_key(tree, parent), sid) end
  remove_session(removal, r, sid, row, nowMs)
end
removal_end(removal)
local childrenKey = children_key(tree, sid)
if redis.call('EXISTS', childrenKey) == 1 then
  if redis.call('LLEN', walkKey) == 0 then
    redis.call('RPUSH', walkKey, cjson.encode({ kill = kill, reason = reason, at = nowMs }))
  end
  redis.call('RPUSH', walkKey, sid)
  -- the walk is needed no longer than the children set lives (it expires with its last child)
  extend(walkKey, redis.call('PEXPIRETIME', childrenKey))
  removal.rows[1] = 1
end
return removal.rows
`;

export const WALK_KEYS = keys('walkKey');
export const WALK_ARGS = argv({ tree: 'string', nowMs: 'int', budget: 'int', staleBeforeMs: 'int' });

/**
 * One bounded step of a tree kill's walk (see REVOKE_TREE): removes up to `budget` descendants whose
 * parent was removed, pushing each that has children of its own. Any caller may take a step: the kill
 * that started the walk, or (`staleBeforeMs` > 0) the outbox sweep finishing a kill that stopped
 * midway, which takes a step only when the walk's last step was before staleBeforeMs.
 * Returns {state, sid, row, ...}: state 0 when the walk is done (its key gone), 1 when more is left,
 * -1 when the walk is still in a live kill's hands (nothing done); then the rows of the live
 * sessions removed, as REVOKE_TREE's.
 */
export const REVOKE_WALK = `${LIVENESS}${EXTEND}${REMOVAL}
${WALK_KEYS.lua}
${WALK_ARGS.lua}
local header = redis.call('LINDEX', walkKey, 0)
if not header then return { 0 } end
local tag = cjson.decode(header)
if staleBeforeMs > 0 and tag.at >= staleBeforeMs then return { -1 } end
local r = ${luaRead(REMOVED_READ)}
local removal = removal_start(tree, tag.kill, tag.reason)
local left, walkUntil = budget, 0
while left > 0 and redis.call('LLEN', walkKey) > 1 do
  local parent = redis.call('RPOP', walkKey)
  local parentChildren = children_key(tree, parent)
  local children = redis.call('SPOP', parentChildren, left)
  -- a parent with more children than the step allows stays on the walk for the next step
  if redis.call('EXISTS', parentChildren) == 1 then redis.call('RPUSH', walkKey, parent) end
  for _, id in ipairs(children) do
    left = left - 1
    local row = redis.call('HMGET', session_key(tree, id), unpack(r.fields))
    if row[r.at.agent] then remove_session(removal, r, id, row, nowMs) end
    local childrenKey = children_key(tree, id)
    local childrenUntil = redis.call('PEXPIRETIME', childrenKey)
    if childrenUntil ~= -2 then
      redis.call('RPUSH', walkKey, id)
      walkUntil = math.max(walkUntil, childrenUntil)
    end
  end
end
removal_end(removal)
if redis.call('LLEN', walkKey) <= 1 then
  redis.call('DEL', walkKey)
  return removal.rows
end
if walkUntil > 0 then extend(walkKey, walkUntil) end
tag.at = nowMs
redis.call('LSET', walkKey, 0, cjson.encode(tag))
removal.rows[1] = 1
return removal.rows
`;

export const ANNOUNCED_KEYS = keys('outboxKey');

/** Removes the given sids (ARGV) from a tree's outbox. Returns how many remain in it. */
export const ANNOUNCED = `
${ANNOUNCED_KEYS.lua}
if #ARGV > 0 then redis.call('HDEL', outboxKey, unpack(ARGV)) end
return redis.call('HLEN', outboxKey)
`;

export const ENABLE_KEYS = keys('statusKey', 'markerKey');
export const ENABLE_ARGS = argv({ nowMs: 'int' });

/** Clears an agent's disabled mark and lowers its kill marker to just before nowMs (never raises it; keeps its expiry). */
export const ENABLE_AGENT = `${PRELUDE}
${ENABLE_KEYS.lua}
${ENABLE_ARGS.lua}
redis.call('DEL', statusKey)
local m = tonumber(redis.call('GET', markerKey))
if m and m >= nowMs then redis.call('SET', markerKey, nowMs - 1, 'KEEPTTL') end
return 1
`;

export const REGISTRY_WRITE_KEYS = keys('docsKey', 'versionKey', 'pendingKey');
export const REGISTRY_WRITE_ARGS = argv({
  op: 'string', id: 'string', doc: 'string', expected: 'string', channel: 'string', message: 'string', atVersion: 'string', pending: 'string',
});

/**
 * One registry change: `op` add (only when absent), put, replace (only when the stored document
 * is still `expected`) or remove. With `atVersion` (non-empty) nothing is written unless the
 * version is still that one. `pending` '1' adds `message` (the entry's `<kind>:<id>`) to the set
 * of entries with a change still to complete, '0' removes it, '' leaves it. A change that happened
 * bumps the version and is announced on `channel` in the same step as `<version> <message>`
 * (read by store/registry.ts `parseAnnouncement`), so an instance that reads the version never
 * misses it. Returns 1 when something changed, else 0.
 */
export const REGISTRY_WRITE = `${PRELUDE}
${REGISTRY_WRITE_KEYS.lua}
${REGISTRY_WRITE_ARGS.lua}
if atVersion ~= '' and (redis.call('GET', versionKey) or '0') ~= atVersion then return 0 end
local changed
if op == 'add' then changed = redis.call('HSETNX', docsKey, id, doc) == 1
elseif op == 'put' then redis.call('HSET', docsKey, id, doc); changed = true
elseif op == 'replace' then
  changed = redis.call('HGET', docsKey, id) == expected
  if changed then redis.call('HSET', docsKey, id, doc) end
else changed = redis.call('HDEL', docsKey, id) == 1 end
if not changed then return 0 end
if pending == '1' then redis.call('SADD', pendingKey, message)
elseif pending == '0' then redis.call('SREM', pendingKey, message) end
local version = redis.call('INCR', versionKey)
redis.call('PUBLISH', channel, version .. ' ' .. message)
return 1
`;

export const REGISTRY_READ_KEYS = keys('docsKey', 'versionKey');

/** Every document of one kind and the version they were read at: {version, id, doc, id, doc, ...}. */
export const REGISTRY_READ_ALL = `
${REGISTRY_READ_KEYS.lua}
local out = { redis.call('GET', versionKey) or '0' }
for _, v in ipairs(redis.call('HGETALL', docsKey)) do out[#out + 1] = v end
return out
`;
