import { LUA_SESSION_FIELDS, SESSION_FIELDS } from './codec.js';

/** 1-based position of `sub` in a HMGET row. */
const SUB_FIELD = SESSION_FIELDS.indexOf('sub') + 1;

/**
 * Lua scripts: each runs atomically inside Redis, so a kill and an exchange under the same tree are
 * strictly ordered, and every hot operation costs one round trip. Key prefixes arrive as ARGV from
 * keys.ts; scripts only append ids to them.
 */

/** Sets a key's expiry to expMs unless it already lives longer. */
const EXTEND = `
local function extend(key, expMs, nowMs)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 or ttl < expMs - nowMs then redis.call('PEXPIREAT', key, expMs) end
end
`;

/** True when every ancestor in the space-separated list is still stored and unexpired. */
const ANCESTORS_LIVE = `
local function ancestors_live(anc, sprefix, nowMs)
  for a in string.gmatch(anc, '%S+') do
    local e = redis.call('HGET', sprefix .. a, 'exp')
    if not e or tonumber(e) * 1000 <= nowMs then return false end
  end
  return true
end
`;

/** Deletes a subtree breadth first, and its index entries; returns how many sessions were stored. */
const REVOKE_TREE = `
local function revoke_tree(root, sprefix, cprefix, agprefix, subprefix, allkey)
  local queue, i, n = { root }, 1, 0
  while i <= #queue do
    local sid = queue[i]
    i = i + 1
    local skey = sprefix .. sid
    local f = redis.call('HMGET', skey, 'ix', 'sub', 'p')
    if f[1] then
      n = n + 1
      for ag in string.gmatch(f[1], '%S+') do redis.call('ZREM', agprefix .. ag, sid) end
      redis.call('ZREM', subprefix .. f[2], sid)
      redis.call('ZREM', allkey, sid)
      if sid == root and f[3] ~= '' then redis.call('SREM', cprefix .. f[3], sid) end
      redis.call('DEL', skey)
    end
    local ckey = cprefix .. sid
    for _, child in ipairs(redis.call('SMEMBERS', ckey)) do queue[#queue + 1] = child end
    redis.call('DEL', ckey)
  end
  return n
end
`;

/**
 * KEYS: session, parent's children set (or session again for a root), index keys...
 * ARGV: nowMs, expMs, sid, sprefix, ancestors (space separated), field/value pairs...
 * Returns 1 when stored, 0 when an ancestor is gone.
 */
export const CREATE = `${EXTEND}${ANCESTORS_LIVE}
local nowMs, expMs, sid, sprefix, anc = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if not ancestors_live(anc, sprefix, nowMs) then return 0 end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], expMs)
if KEYS[2] ~= KEYS[1] then
  redis.call('SADD', KEYS[2], sid)
  extend(KEYS[2], expMs, nowMs)
end
for i = 3, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', nowMs)
  redis.call('ZADD', KEYS[i], expMs, sid)
  extend(KEYS[i], expMs, nowMs)
end
return 1
`;

/**
 * The introspection hot path. KEYS: session. ARGV: tokenHash, nowMs, sprefix.
 * Returns the session row (SESSION_FIELDS order) or nil.
 */
export const FIND_BY_TOKEN = `${ANCESTORS_LIVE}
local row = redis.call('HMGET', KEYS[1], ${LUA_SESSION_FIELDS})
local nowMs = tonumber(ARGV[2])
if row[1] ~= ARGV[1] or tonumber(row[2]) * 1000 <= nowMs then return nil end
if not ancestors_live(row[3], ARGV[3], nowMs) then return nil end
return row
`;

/**
 * KEYS: none. ARGV: sid, nowMs, sprefix, cprefix. Returns {sid, row, sid, row, ...} for the live
 * session and its live descendants, breadth first; empty when the session is not live.
 */
export const SUBTREE = `${ANCESTORS_LIVE}
local nowMs, sprefix, cprefix = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local rootAncestors = redis.call('HGET', sprefix .. ARGV[1], 'anc')
if not rootAncestors or not ancestors_live(rootAncestors, sprefix, nowMs) then return {} end
local out, queue, i = {}, { ARGV[1] }, 1
while i <= #queue do
  local sid = queue[i]
  i = i + 1
  local row = redis.call('HMGET', sprefix .. sid, ${LUA_SESSION_FIELDS})
  if row[1] and tonumber(row[2]) * 1000 > nowMs then
    out[#out + 1] = sid
    out[#out + 1] = row
    for _, child in ipairs(redis.call('SMEMBERS', cprefix .. sid)) do queue[#queue + 1] = child end
  end
end
return out
`;

/** How many index entries LIST reads per step while it looks for matches. */
const LIST_BATCH = 256;

/**
 * KEYS: index. ARGV: nowMs, limit, sprefix, sub ('' for any). Returns {sid, row, ...} of up to
 * `limit` live sessions in the index whose subject matches, soonest-expiring first.
 */
export const LIST = `
local nowMs, limit, sprefix, sub = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local out, found, offset = {}, 0, 0
while found < limit do
  local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. nowMs, '+inf', 'LIMIT', offset, ${LIST_BATCH})
  if #sids == 0 then break end
  offset = offset + #sids
  for _, sid in ipairs(sids) do
    local row = redis.call('HMGET', sprefix .. sid, ${LUA_SESSION_FIELDS})
    if row[1] and (sub == '' or row[${SUB_FIELD}] == sub) then
      found = found + 1
      out[#out + 1] = sid
      out[#out + 1] = row
      if found == limit then break end
    end
  end
end
return out
`;

/** KEYS: none. ARGV: sid, sprefix, cprefix, agprefix, subprefix, allkey. Returns the count revoked. */
export const REVOKE = `${REVOKE_TREE}
return revoke_tree(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
`;

/** KEYS: agent index. ARGV: sprefix, cprefix, agprefix, subprefix, allkey. Returns the count revoked. */
export const REVOKE_AGENT = `${REVOKE_TREE}
local n = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + revoke_tree(sid, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
end
redis.call('DEL', KEYS[1])
return n
`;
