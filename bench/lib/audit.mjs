// The audit trail: Redis bytes per record, and GET /admin/audit/verify over N records (time, server RSS).
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { canonicalJson, sha256Hex } from '../../dist/store/audit.js';
import { AUDIT_APPEND_LUA } from '../../dist/store/redis/audit-scripts.js';
import { ADMIN_AUDIENCE, AGENTS, API, SECRET } from './agent-sts.mjs';
import { basic, expectStatus } from './http.mjs';
import { treeSample } from './procs.mjs';

const STREAM = 'sts:{audit}:trail';
const HEAD = 'sts:{audit}:head';
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

/**
 * Fills the trail to at least `n` records (its retention must allow that many), measures Redis
 * bytes per record (used_memory and MEMORY USAGE deltas over the fill), then times one verify call
 * and samples the server's RSS during it.
 */
export async function measureAudit(sts, redis, { n }) {
  const startLen = await redis.xlen(STREAM);
  const memBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
  const usageBefore = Number((await redis.memory('USAGE', STREAM, 'SAMPLES', '0')) ?? 0);
  const toAdd = Math.max(n - startLen, 0);
  for (let i = 0; i < toAdd; i += FILL_BATCH) {
    const args = [];
    for (let j = i; j < Math.min(i + FILL_BATCH, toAdd); j++) {
      const b = body(j);
      args.push(b, sha256Hex(b));
    }
    await redis.eval(FILL, 2, STREAM, HEAD, ...args);
  }
  const len = await redis.xlen(STREAM);
  const memAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))[1]);
  const usageAfter = Number(await redis.memory('USAGE', STREAM, 'SAMPLES', '0'));
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
    'used_memory Δ/record B': toAdd ? Math.round((memAfter - memBefore) / toAdd) : 'n/a',
    'MEMORY USAGE Δ/record B': toAdd ? Math.round((usageAfter - usageBefore) / toAdd) : 'n/a',
  }];
}
