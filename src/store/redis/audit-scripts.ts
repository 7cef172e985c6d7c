import { GENESIS_HASH } from '../audit.js';

/**
 * The audit trail's append, in Lua, for the APPEND script and for the session create (which on a
 * single Redis appends `token.issued` in the same atomic step as the session it records).
 *
 * Redis' Lua has SHA-1 but no SHA-256, and the link must be computed where seq and prev are
 * decided, so this is FIPS 180-4 SHA-256 on Redis' `bit` library. It hashes only the short link
 * input (seq, prev, body digest: 72 bytes, two blocks); the body digest comes from node:crypto, and the
 * verifier recomputes every link with node:crypto, so a fault here shows as a broken chain, never
 * as a silent pass. The contract suite checks it against node:crypto on test vectors.
 */
const SHA256 = `
local SHA256_K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local function sha256hex(msg)
  local band, bxor, bnot, ror, rshift, tobit = bit.band, bit.bxor, bit.bnot, bit.ror, bit.rshift, bit.tobit
  local len = #msg
  local bits = len * 8
  msg = msg .. '\\128' .. string.rep('\\0', (55 - len) % 64) .. '\\0\\0\\0\\0'
    .. string.char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255), band(rshift(bits, 8), 255), band(bits, 255))
  local H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  for i = 1, 8 do H[i] = tobit(H[i]) end
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = string.byte(msg, chunk + i * 4, chunk + i * 4 + 3)
      w[i] = tobit(b1 * 16777216 + b2 * 65536 + b3 * 256 + b4)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = h + S1 + ch + SHA256_K[i + 1] + w[i]
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + S0 + maj)
    end
    H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
    H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
  end
  local out = {}
  for i = 1, 8 do out[i] = bit.tohex(H[i]) end
  return table.concat(out)
end
`;

/**
 * `audit_append(stream, head, body, digest, maxRecords, minTimeMs)`: numbers the record after the
 * head, links it, adds it to the stream (id `*`: the Redis clock), moves the head, then trims by
 * length and by age (`~`: whole stream nodes, so a little more than the limit may be kept). The
 * head lives in its own key, so trimming never loses the newest link; a kept record's `prev`
 * carries the last trimmed one's hash. Returns { seq, hash, prev }. An append that fails raises an
 * `AUDITFAIL` error before anything else is written (callers append before their own writes), so
 * the request fails closed with nothing stored.
 */
export const AUDIT_APPEND_LUA = `${SHA256}
local function hex_bytes(hex)
  return (string.gsub(hex, '..', function(h) return string.char(tonumber(h, 16)) end))
end
local function u64be(n)
  local out = {}
  for i = 8, 1, -1 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end
local function audit_append(stream, head, body, digest, maxRecords, minTimeMs)
  local h = redis.call('HMGET', head, 'seq', 'hash')
  local seq = (tonumber(h[1]) or 0) + 1
  local prev = h[2] or '${GENESIS_HASH}'
  local hash = sha256hex(u64be(seq) .. hex_bytes(prev) .. hex_bytes(digest))
  local added = redis.pcall('XADD', stream, '*', 'seq', seq, 'prev', prev, 'hash', hash, 'body', body)
  if type(added) == 'table' and added.err then error({ err = 'AUDITFAIL ' .. added.err }) end
  redis.call('HSET', head, 'seq', seq, 'hash', hash)
  if maxRecords > 0 then redis.call('XTRIM', stream, 'MAXLEN', '~', maxRecords) end
  if minTimeMs > 0 then redis.call('XTRIM', stream, 'MINID', '~', minTimeMs) end
  return { seq, hash, prev }
end
`;

/** KEYS: stream, head. ARGV: body, digest, maxRecords, minTimeMs. */
export const AUDIT_APPEND = `${AUDIT_APPEND_LUA}
return audit_append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
`;

/** KEYS: none. ARGV: message. For the contract suite: the Lua SHA-256 against node:crypto's. */
export const SHA256_SELF_TEST = `${SHA256}
return sha256hex(ARGV[1])
`;

/** KEYS: none. ARGV: seq, prev, digest. For the contract suite: the Lua link against linkHash. */
export const LINK_SELF_TEST = `${AUDIT_APPEND_LUA}
return sha256hex(u64be(tonumber(ARGV[1])) .. hex_bytes(ARGV[2]) .. hex_bytes(ARGV[3]))
`;
