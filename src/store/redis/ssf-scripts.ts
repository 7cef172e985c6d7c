/**
 * The SSF streams' scripts. An audience's stream and its subscribers' state share one hash slot
 * (`{ssf:<aud>}`, see keys.ts). Entry ids follow the service clock (`<ms>-*`, never behind the
 * newest entry), so retention and the memory twin agree whatever the Redis clock says.
 */

/**
 * `older(a, b)`: stream id a sorts before b. `trim(stream, minMs)`: drops entries older than minMs.
 * `head(stream)`: the newest id. `append(…)`: adds SETs and publishes. `room(…)`: the position quota.
 */
const HELPERS = `
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function older(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  return am < bm or (am == bm and as < bs)
end
-- XTRIM keeps no record of what it dropped (max-deleted-entry-id is XDEL's): the newest trimmed id is kept beside the stream.
local function trim(stream, trimmedKey, minMs)
  local newest = redis.call('XREVRANGE', stream, '(' .. minMs .. '-0', '-', 'COUNT', 1)[1]
  if newest then
    redis.call('SET', trimmedKey, newest[1])
    redis.call('XTRIM', stream, 'MINID', minMs)
  end
end
local function head(stream)
  local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  return newest and newest[1] or '0-0'
end
-- Appends (ids on the service clock, never behind the newest), trims, then tells every instance.
local function append(stream, trimmedKey, nowMs, minMs, channel, aud, pairs, from)
  local ms = nowMs
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if last then
    local lastMs = split(last[1])
    if lastMs > ms then ms = lastMs end
  end
  for i = from, #pairs, 2 do
    redis.call('XADD', stream, string.format('%d-*', ms), 'jti', pairs[i], 'set', pairs[i + 1])
  end
  trim(stream, trimmedKey, minMs)
  redis.call('PUBLISH', channel, aud)
end
-- Room for one more position: managed streams and polled names count together; while full, the
-- least recently polled name gives its place up if it has been idle idleMs (its state goes with it).
local function room(configs, positions, nowMs, max, idleMs, cursorPrefix, ackedPrefix)
  while redis.call('HLEN', configs) + redis.call('ZCARD', positions) >= max do
    local oldest = redis.call('ZRANGE', positions, 0, 0, 'WITHSCORES')
    if not oldest[1] or tonumber(oldest[2]) > nowMs - idleMs then return false end
    redis.call('ZREM', positions, oldest[1])
    redis.call('DEL', cursorPrefix .. oldest[1], ackedPrefix .. oldest[1])
  end
  return true
end
`;

/** KEYS: stream, trimmed. ARGV: nowMs, minMs, channel, aud, then jti, set pairs. */
export const SSF_APPEND = `${HELPERS}
append(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV, 5)
return 1
`;

/**
 * KEYS: stream, trimmed, configs, verified. ARGV: nowMs, minMs, channel, aud, stream id,
 * intervalMs, jti, set. Returns -1 (no managed stream of that id), 0 (appended) or the ms to wait.
 */
export const SSF_VERIFY = `${HELPERS}
local stream, trimmedKey, configs, verified = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local nowMs, interval = tonumber(ARGV[1]), tonumber(ARGV[6])
if redis.call('HEXISTS', configs, ARGV[5]) == 0 then return -1 end
local last = redis.call('GET', verified)
if last then
  local wait = tonumber(last) + interval - nowMs
  if wait > 0 then return wait end
end
append(stream, trimmedKey, nowMs, ARGV[2], ARGV[3], ARGV[4], ARGV, 7)
redis.call('SET', verified, nowMs, 'PX', interval)
return 0
`;

/**
 * KEYS: stream, trimmed, cursor, acked, configs, positions. ARGV: nowMs, minMs, maxEvents, window,
 * stateTtlMs, stream name, quota max (0: no quota), quota idleMs, cursor prefix, acked prefix, then
 * the acknowledged jtis. The cursor is the newest id up to which every entry is acknowledged;
 * \`acked\` holds jtis acknowledged beyond it. Returns { resync, more, head, id, jti, set, … }, or
 * { 'full' } (nothing changed) when a new stream name finds the quota full.
 */
export const SSF_POLL = `${HELPERS}
local stream, trimmedKey, cursorKey, ackedKey, configs, positions = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local nowMs, minMs, maxEvents, window, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local name, max = ARGV[6], tonumber(ARGV[7])
if max > 0 and redis.call('HEXISTS', configs, name) == 0 then
  if not redis.call('ZSCORE', positions, name) and not room(configs, positions, nowMs, max, tonumber(ARGV[8]), ARGV[9], ARGV[10]) then
    return { 'full' }
  end
  redis.call('ZADD', positions, nowMs, name)
  redis.call('PEXPIRE', positions, ttl)
end
local acks = {}
for i = 11, #ARGV do acks[ARGV[i]] = true end
trim(stream, trimmedKey, minMs)
local trimmed = redis.call('GET', trimmedKey) or '0-0'
-- a new subscriber starts at the oldest SET still kept: it had nothing to lose
local cursor = redis.call('GET', cursorKey) or trimmed
local resync = 0
if older(cursor, trimmed) then
  resync = 1
  cursor = trimmed
  redis.call('DEL', ackedKey)
end
local entries = redis.call('XRANGE', stream, '(' .. cursor, '+', 'COUNT', window)
local out, n, advancing, more = {}, 0, true, 0
if #entries == window then more = 1 end
for _, e in ipairs(entries) do
  local f = e[2]
  local jti, set = f[2], f[4]
  if acks[jti] or redis.call('SISMEMBER', ackedKey, jti) == 1 then
    if advancing then
      cursor = e[1]
      redis.call('SREM', ackedKey, jti)
    else
      redis.call('SADD', ackedKey, jti)
    end
  else
    advancing = false
    if n < maxEvents then
      n = n + 1
      out[#out + 1] = e[1]
      out[#out + 1] = jti
      out[#out + 1] = set
    else
      more = 1
    end
  end
end
redis.call('SET', cursorKey, cursor, 'PX', ttl)
if redis.call('EXISTS', ackedKey) == 1 then redis.call('PEXPIRE', ackedKey, ttl) end
table.insert(out, 1, head(stream))
table.insert(out, 1, more)
table.insert(out, 1, resync)
return out
`;

/** KEYS: lease. ARGV: holder, ttlMs. Takes a free lease or extends one's own; 1 when held. */
export const SSF_LEASE = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 1
`;

/** KEYS: lease. ARGV: holder. Deletes the lease only if the holder has it. */
export const SSF_RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/** KEYS: configs, positions. ARGV: id, config, max, idleMs, nowMs, cursor prefix, acked prefix. 1 when added (see room). */
export const SSF_ADD_STREAM = `${HELPERS}
if not room(KEYS[1], KEYS[2], tonumber(ARGV[5]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[6], ARGV[7]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/** KEYS: configs, cursor, acked, verified. ARGV: id. Deletes a managed stream and its state; 0, writing nothing, when there is none. */
export const SSF_REMOVE_STREAM = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return 1
`;
