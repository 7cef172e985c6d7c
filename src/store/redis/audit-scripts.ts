import { AUDIT_TRIM_EVERY, GENESIS_HASH } from '../audit.js';

/**
 * The audit trail's append, in Lua, for the APPEND script and for the session create (which on a
 * single Redis appends `token.issued` in the same atomic step as the session it records). The link
 * is computed where seq and prev are decided, with Redis' own `redis.sha1hex` (its Lua offers no
 * SHA-256, and crypto is never hand-rolled here); the body digest is SHA-256 from node:crypto, and
 * the verifier recomputes every link with node:crypto (see store/audit.ts for why SHA-1 holds).
 */
/**
 * `audit_append(stream, head, body, digest, maxRecords, minTimeMs)`: numbers the record after the
 * head, links it, adds it to the stream (id `*`: the Redis clock), moves the head, then, every
 * AUDIT_TRIM_EVERY records, trims by length and by age (`~`: whole stream nodes, so a little more
 * than the limit may be kept). The
 * head lives in its own key, so trimming never loses the newest link; a kept record's `prev`
 * carries the last trimmed one's hash. Returns { seq, hash, prev }. An append that fails raises an
 * `AUDITFAIL` error before anything else is written (callers append before their own writes), so
 * the request fails closed with nothing stored.
 */
export const AUDIT_APPEND_LUA = `
-- seq as 8 bytes, big-endian (Redis' Lua has the struct library: one C call, not a loop)
local function u64be(n)
  return struct.pack('>I8', n)
end
local function audit_append(stream, head, body, digest, maxRecords, minTimeMs)
  local h = redis.call('HMGET', head, 'seq', 'hash')
  local seq = (tonumber(h[1]) or 0) + 1
  local prev = h[2] or '${GENESIS_HASH}'
  local hash = redis.sha1hex(u64be(seq) .. prev .. digest)
  local added = redis.pcall('XADD', stream, '*', 'seq', seq, 'prev', prev, 'hash', hash, 'body', body)
  if type(added) == 'table' and added.err then error({ err = 'AUDITFAIL ' .. added.err }) end
  redis.call('HSET', head, 'seq', seq, 'hash', hash)
  if seq % ${AUDIT_TRIM_EVERY} == 0 then
    if maxRecords > 0 then redis.call('XTRIM', stream, 'MAXLEN', '~', maxRecords) end
    if minTimeMs > 0 then redis.call('XTRIM', stream, 'MINID', '~', minTimeMs) end
  end
  return { seq, hash, prev }
end
`;

/** KEYS: stream, head. ARGV: body, digest, maxRecords, minTimeMs. */
export const AUDIT_APPEND = `${AUDIT_APPEND_LUA}
return audit_append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
`;

/** KEYS: none. ARGV: seq, prev, digest. For the contract suite: the Lua link against linkHash. */
export const LINK_SELF_TEST = `${AUDIT_APPEND_LUA}
return redis.sha1hex(u64be(tonumber(ARGV[1])) .. ARGV[2] .. ARGV[3])
`;
