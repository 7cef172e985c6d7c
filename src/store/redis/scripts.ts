import { TREE_KEY } from '../keys.js';
import { LUA_CLAIM_FIELDS, LUA_SESSION_FIELDS } from './codec.js';

/**
 * Lua scripts. Each one touches a single session tree, whose keys share one hash slot (see
 * keys.ts), so they run atomically on a single Redis and on Redis Cluster alike. A tree kill and an
 * exchange under that tree are therefore strictly ordered, and introspection is one round trip.
 * Scripts get the tree's key prefix as ARGV and append the suffixes from keys.ts.
 */

const KEY_OF = `
local function session_key(tree, sid) return tree .. '${TREE_KEY.session}' .. sid end
local function children_key(tree, sid) return tree .. '${TREE_KEY.children}' .. sid end
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

/** True when every ancestor in the space-separated list is still stored and unexpired. */
const ANCESTORS_LIVE = `${KEY_OF}
local function ancestors_live(anc, tree, nowMs)
  for a in string.gmatch(anc, '%S+') do
    local e = redis.call('HGET', session_key(tree, a), 'exp')
    if not e or tonumber(e) * 1000 <= nowMs then return false end
  end
  return true
end
`;

/**
 * Index entries are pruned only this long after their expiry: the score comes from one instance's
 * clock, and an entry pruned early would hide a still-live session from an agent-wide kill.
 */
const INDEX_PRUNE_GRACE_MS = 300_000;

/** Storing a session and indexing it, shared by the scripts below. */
const WRITE = `${EXTEND}${ANCESTORS_LIVE}
local function may_create(tombstone, anc, tree, nowMs)
  return redis.call('EXISTS', tombstone) == 0 and ancestors_live(anc, tree, nowMs)
end
local function store_session(skey, ckey, sid, expMs, firstField)
  redis.call('HSET', skey, unpack(ARGV, firstField))
  redis.call('PEXPIREAT', skey, expMs)
  if ckey ~= skey then
    redis.call('SADD', ckey, sid)
    extend(ckey, expMs)
  end
end
local function index_add(key, sid, expMs, nowMs, prune)
  if prune == '1' then redis.call('ZREMRANGEBYSCORE', key, '-inf', nowMs - ${INDEX_PRUNE_GRACE_MS}) end
  redis.call('ZADD', key, expMs, sid)
  extend(key, expMs)
end
`;

/**
 * Cluster: the record, after the caller wrote the index entries (INDEX_ADD, other slots).
 * KEYS: session, parent's children set (or the session again for a root), the session's tombstone.
 * ARGV: nowMs, expMs, sid, tree prefix, ancestors (space separated), prune ('1': drop long-expired
 * index entries), field/value pairs...
 * Returns 1 when stored; 0 when an ancestor is gone or the session was already killed.
 */
export const CREATE = `${WRITE}
local nowMs, expMs, sid, tree, anc = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if not may_create(KEYS[3], anc, tree, nowMs) then return 0 end
store_session(KEYS[1], KEYS[2], sid, expMs, 7)
return 1
`;

/**
 * Cluster: KEYS: indexes (one slot per call). ARGV: nowMs, expMs, sid, prune.
 * Adds the sid to each, keeps each TTL ahead of its newest entry, prunes when asked.
 */
export const INDEX_ADD = `${WRITE}
local nowMs, expMs = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, key in ipairs(KEYS) do index_add(key, ARGV[3], expMs, nowMs, ARGV[4]) end
return 1
`;

/**
 * A single Redis: record and index entries in one atomic step (nothing is written when refused).
 * KEYS: as CREATE, then the indexes. ARGV: as CREATE.
 */
export const CREATE_INDEXED = `${WRITE}
local nowMs, expMs, sid, tree, anc = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if not may_create(KEYS[3], anc, tree, nowMs) then return 0 end
store_session(KEYS[1], KEYS[2], sid, expMs, 7)
for i = 4, #KEYS do index_add(KEYS[i], sid, expMs, nowMs, ARGV[6]) end
return 1
`;

/**
 * Finds a delegated session (a root has no ancestors, so the store reads it with one HMGET).
 * KEYS: session. ARGV: tokenHash, nowMs, tree prefix, 'claims' for the claim fields only (each
 * field read and returned costs, and introspection needs no more) or anything else for all.
 * Returns that row (SESSION_FIELDS order) or nil.
 */
export const FIND_BY_TOKEN = `${ANCESTORS_LIVE}
local row
if ARGV[4] == 'claims' then row = redis.call('HMGET', KEYS[1], ${LUA_CLAIM_FIELDS})
else row = redis.call('HMGET', KEYS[1], ${LUA_SESSION_FIELDS}) end
local nowMs = tonumber(ARGV[2])
if row[1] ~= ARGV[1] or tonumber(row[2]) * 1000 <= nowMs then return nil end
if not ancestors_live(row[3], ARGV[3], nowMs) then return nil end
return row
`;

/**
 * KEYS: the session (for routing). ARGV: sid, nowMs, tree prefix. Returns {sid, row, ...} for the
 * live session and its live descendants, breadth first; empty when the session is not live.
 */
export const SUBTREE = `${ANCESTORS_LIVE}
local nowMs, tree = tonumber(ARGV[2]), ARGV[3]
local rootAncestors = redis.call('HGET', KEYS[1], 'anc')
if not rootAncestors or not ancestors_live(rootAncestors, tree, nowMs) then return {} end
local out, queue, i = {}, { ARGV[1] }, 1
while i <= #queue do
  local sid = queue[i]
  i = i + 1
  local row = redis.call('HMGET', session_key(tree, sid), ${LUA_SESSION_FIELDS})
  if row[1] and tonumber(row[2]) * 1000 > nowMs then
    out[#out + 1] = sid
    out[#out + 1] = row
    for _, child in ipairs(redis.call('SMEMBERS', children_key(tree, sid))) do queue[#queue + 1] = child end
  end
end
return out
`;

/**
 * Kills a subtree. KEYS: the kill root's session, its tombstone. ARGV: sid, tree prefix, nowMs,
 * tombstone-until (ms; the session's own expiry is used when later). The tombstone makes a create
 * of that sid still in flight fail. Returns {count, sid, agent, sub, act, ...} of the sessions
 * removed, so the caller can drop their index entries (which live in other slots).
 */
export const REVOKE_TREE = `${KEY_OF}
local root, tree, nowMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local untilMs = tonumber(ARGV[4])
local rootExp = redis.call('HGET', KEYS[1], 'exp')
if rootExp then untilMs = math.max(untilMs, tonumber(rootExp) * 1000) end
if untilMs > nowMs then redis.call('SET', KEYS[2], '1', 'PXAT', untilMs) end
local queue, i, removed = { root }, 1, { 0 }
while i <= #queue do
  local sid = queue[i]
  i = i + 1
  local skey = session_key(tree, sid)
  local f = redis.call('HMGET', skey, 'ag', 'sub', 'p', 'act')
  if f[1] then
    removed[1] = removed[1] + 1
    removed[#removed + 1] = sid
    removed[#removed + 1] = f[1]
    removed[#removed + 1] = f[2]
    removed[#removed + 1] = f[4]
    if sid == root and f[3] ~= '' then redis.call('SREM', children_key(tree, f[3]), sid) end
    redis.call('DEL', skey)
  end
  local ckey = children_key(tree, sid)
  for _, child in ipairs(redis.call('SMEMBERS', ckey)) do queue[#queue + 1] = child end
  redis.call('DEL', ckey)
end
return removed
`;
