/**
 * The SSF streams' scripts. An audience's stream and its subscribers' state share one hash slot
 * (`{ssf:<aud>}`, see keys.ts). Entry ids follow the service clock (`<ms>-*`, never behind the
 * newest entry), so retention and the memory twin agree whatever the Redis clock says.
 */

/** `older(a, b)`: stream id a sorts before b. `trim(stream, minMs)`: drops entries older than minMs. */
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
`;

/** KEYS: stream, trimmed. ARGV: nowMs, minMs, then jti, set pairs. */
export const SSF_APPEND = `${HELPERS}
local stream, trimmedKey, nowMs, minMs = KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2]
local ms = nowMs
local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
if last then
  local lastMs = split(last[1])
  if lastMs > ms then ms = lastMs end
end
for i = 3, #ARGV, 2 do
  redis.call('XADD', stream, string.format('%d-*', ms), 'jti', ARGV[i], 'set', ARGV[i + 1])
end
trim(stream, trimmedKey, minMs)
return 1
`;

/**
 * KEYS: stream, trimmed, cursor, acked. ARGV: nowMs, minMs, maxEvents, window,
 * stateTtlMs, then the acknowledged jtis. The cursor is the newest id up to which every entry is
 * acknowledged; \`acked\` holds jtis acknowledged beyond it. Returns { resync, more, id, jti, set, … }.
 */
export const SSF_POLL = `${HELPERS}
local stream, trimmedKey, cursorKey, ackedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local minMs, maxEvents, window, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local acks = {}
for i = 6, #ARGV do acks[ARGV[i]] = true end
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

/** KEYS: configs. ARGV: id, config, max. Adds the stream unless the audience has max already. */
export const SSF_ADD_STREAM = `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;
