// The audit trail: Redis bytes per record, and GET /admin/audit/verify over N records (time, server RSS).
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { canonicalJson, sha256Hex } from '../../dist/store/audit.js';
import { AUDIT_APPEND_LUA } from '../../dist/store/redis/audit-scripts.js';
import { ADMIN_AUDIENCE, AGENTS, API, SECRET } from './agent-sts.mjs';
import { basic, expectStatus } from './http.mjs';
import { treeSample } from './procs.mjs';
import { usedMemory } from './redis.mjs';

export const STREAM = 'sts:{audit}:trail';
export const HEAD = 'sts:{audit}:head';
/**
 * Bytes per record are measured on a scratch stream of BYTES_N records, deleted afterwards: by
 * the time this group runs, the load has usually filled the trail to its retention already.
 */
const SCRATCH = 'sts:{audit}:bench-bytes';
const SCRATCH_HEAD = 'sts:{audit}:bench-bytes-head';
const BYTES_N = 20_000;
/** Records appended per script call while filling: each call stays a few ms long. */
const FILL_BATCH = 200;
const RSS_SAMPLE_MS = 100;
/** The verify call must finish within this (a backstop, not a target). */
const VERIFY_TIMEOUT_MS = 600_000;

/** Appends ARGV (body, digest) pairs through the service's own append function, one script call per batch. */
const FILL = `${AUDIT_APPEND_LUA}
for i = 1, #ARGV, 2 do audit_append(KEYS[1], KEYS[2], ARGV[i], ARGV[i + 1], 0, 0) end
return #ARGV / 2
`;

/** A token.issued body shaped as the service writes it (canonical JSON, distinct per record). */
function body(i) {
  const sid = createHash('sha256').update(String(i)).digest('base64url').slice(0, 16);
  return canonicalJson({
    type: 'token.issued', time: new Date().toISOString(), requestId: `bench-${i}`, actor: AGENTS.load, sid, agent: AGENTS.load,
    sub: AGENTS.load, aud: API, scope: ['read', 'write'], exp: Math.floor(Date.now() / 1000) + 3_600, ttl: 3_600, grant: 'client_credentials',
  });
}

async function auditorToken(sts) {
  const req = { grant_type: 'client_credentials', audience: ADMIN_AUDIENCE, scope: 'audit:read' };
  return (await expectStatus(200, sts.tokenUrl, { auth: basic(AGENTS.admin, SECRET), body: req })).access_token;
}

/** Appends `count` token.issued-shaped records to `stream`, in batches through the service's append. */
export async function fill(redis, stream, head, count) {
  for (let i = 0; i < count; i += FILL_BATCH) {
    const args = [];
    for (let j = i; j < Math.min(i + FILL_BATCH, count); j++) {
      const b = body(j);
      args.push(b, sha256Hex(b));
    }
    await redis.eval(FILL, 2, stream, head, ...args);
  }
}

/** Redis bytes per record (used_memory and MEMORY USAGE deltas) over BYTES_N records on a scratch stream. */
async function bytesPerRecord(redis) {
  await redis.del(SCRATCH, SCRATCH_HEAD);
  const memBefore = await usedMemory(redis);
  await fill(redis, SCRATCH, SCRATCH_HEAD, BYTES_N);
  const memAfter = await usedMemory(redis);
  const usage = Number(await redis.memory('USAGE', SCRATCH, 'SAMPLES', '0'));
  await redis.del(SCRATCH, SCRATCH_HEAD);
  return { used: Math.round((memAfter - memBefore) / BYTES_N), usage: Math.round(usage / BYTES_N) };
}

/**
 * Measures Redis bytes per record, fills the trail to at least `n` records (its retention must
 * allow that many), then times one verify call and samples the server's RSS during it.
 */
export async function measureAudit(sts, redis, { n }) {
  const bytes = await bytesPerRecord(redis);
  await fill(redis, STREAM, HEAD, Math.max(n - (await redis.xlen(STREAM)), 0));
  const len = await redis.xlen(STREAM);
  const token = await auditorToken(sts);
  const pid = sts.process.pid;
  const rssBefore = treeSample(pid).rssKb;
  let rssMax = rssBefore;
  const timer = setInterval(() => { rssMax = Math.max(rssMax, treeSample(pid).rssKb); }, RSS_SAMPLE_MS);
  const t0 = performance.now();
  let result;
  try {
    let backstop;
    const timeout = new Promise((_, reject) => { backstop = setTimeout(() => reject(new Error('verify took too long')), VERIFY_TIMEOUT_MS); });
    const res = await Promise.race([fetch(`${sts.adminUrl}/audit/verify`, { headers: { authorization: `Bearer ${token}` } }), timeout]);
    result = await Promise.race([res.json(), timeout]);
    clearTimeout(backstop);
    if (res.status !== 200) throw new Error(`verify answered ${res.status} ${JSON.stringify(result)}`);
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - t0;
  return [{
    records: len,
    'verify ok': result.ok,
    'checked': result.checked,
    'verify s': (ms / 1000).toFixed(1),
    'records/s': Math.round(result.checked / (ms / 1000)),
    'RSS before MB': Math.round(rssBefore / 1024),
    'RSS max during MB': Math.round(rssMax / 1024),
    [`used_memory Δ/record B (${BYTES_N} records)`]: bytes.used,
    [`MEMORY USAGE/record B (${BYTES_N} records)`]: bytes.usage,
  }];
}
