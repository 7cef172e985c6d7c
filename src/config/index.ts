import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { MAX_TOKEN_TTL_SECONDS } from 'agent-sts-gate/protocol';

/** The URL forms REDIS_URL accepts; the `+sentinel` and `+cluster` forms list several host:port. */
export const REDIS_URL_PATTERN = /^rediss?(\+sentinel|\+cluster)?:\/\//;

/** SETs are kept at least as long as the longest token lifetime. */
const SSF_MIN_RETENTION_SECONDS = MAX_TOKEN_TTL_SECONDS;

/** An address range STS_SSF_PUSH_ALLOW opens to push delivery in production (`net.BlockList` form). */
export interface Subnet {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}
/** What push delivery may reach in production although the address rules refuse it (src/push/address-policy.ts). */
export interface PushAllow {
  readonly subnets: readonly Subnet[];
  /** Exact host names (lower case, no trailing dot): whatever they resolve to is allowed. */
  readonly hosts: readonly string[];
}

/** One STS_SSF_PUSH_ALLOW entry: an address, a CIDR, or a host name WHATWG URL keeps as it is (so `0x7f.1` is no name). */
function pushAllowEntry(entry: string): Subnet | string | undefined {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family && !address.includes('%') && !rest.length) {
    const bits = family === 4 ? 32 : 128;
    const n = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    return n <= bits ? { address, prefix: n, family: family === 4 ? 'ipv4' : 'ipv6' } : undefined;
  }
  if (prefix !== undefined || !/^[a-z0-9.-]+$/.test(entry)) return undefined;
  try {
    return new URL(`https://${entry}/`).hostname === entry ? entry.replace(/\.$/, '') : undefined;
  } catch {
    return undefined;
  }
}

const pushAllow = z.string().default('').transform((raw, ctx): PushAllow => {
  const subnets: Subnet[] = [];
  const hosts: string[] = [];
  for (const entry of raw.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean)) {
    const parsed = pushAllowEntry(entry);
    if (parsed === undefined) ctx.addIssue({ code: 'custom', message: `'${entry}' is neither an address, a CIDR (10.0.0.0/8, fd00::/8) nor a host name` });
    else if (typeof parsed === 'string') hosts.push(parsed);
    else subnets.push(parsed);
  }
  return Object.freeze({ subnets: Object.freeze(subnets), hosts: Object.freeze(hosts) });
});

/** The longest probe schedule: a week. */
const MAX_PROBE_INTERVAL_MINUTES = 10_080;

/** Where the server listens unless HOST says otherwise: every interface in production, this machine only otherwise. */
const ALL_INTERFACES = '0.0.0.0';
const LOOPBACK = '127.0.0.1';

/** Every setting agent-sts reads, documented where its default is defined. Parsed once at boot. */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development')
    .describe('production refuses to start without REDIS_URL, a registry file and signing keys'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080).describe('HTTP port'),
  HOST: z.string().min(1).optional().describe('interface to listen on; default 127.0.0.1 in development and test (this machine only, like vault server -dev), 0.0.0.0 in production'),
  STS_METRICS_PORT: z.coerce.number({ error: 'must be a port number' }).int('must be a port number').min(1, 'must be a port from 1 to 65535').max(65535, 'must be a port from 1 to 65535').optional()
    .describe('port of GET /metrics (Prometheus), a second listener on HOST; unset = off. Not for the internet: scrape it from inside'),
  STS_ISSUER: z.url({ protocol: /^https?$/ }).optional()
    .describe('issuer identifier and base URL of every endpoint; default http://localhost:$PORT'),
  REDIS_URL: z.string().regex(REDIS_URL_PATTERN, 'redis://, rediss://, redis+sentinel:// or redis+cluster://').optional()
    .describe('Redis, Sentinel (redis+sentinel://h:26379,h2:26379/master) or Cluster (redis+cluster://h:6379,h2:6379); unset = embedded memory store (dev only)'),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]*$/).default('sts:')
    .describe('prefix of every Redis key agent-sts writes'),
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().positive().default(500)
    .describe('a Redis command slower than this fails closed with 503'),
  STS_REGISTRY: z.string().default('config/registry.json').describe('path of the agent registry file'),
  STS_REGISTRY_MODE: z.enum(['store', 'file']).default('store')
    .describe("store: the file seeds the live registry (Redis or memory) and the admin API's changes win; file: the file stays read-only truth for the ids it names (API writes to them answer 409)"),
  STS_KEYS_DIR: z.string().default('keys').describe('directory of private signing JWKs'),
  STS_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  STS_WORKERS: z.coerce.number().int().min(1).max(64).default(1)
    .describe('worker processes (node:cluster) sharing the port and Redis; more than 1 needs REDIS_URL'),
  STS_RATE_LIMIT_PER_IP: z.coerce.number().int().min(0).default(0)
    .describe('requests per window per client address on /token, /introspect, /revoke; 0 = off'),
  STS_RATE_LIMIT_PER_AGENT: z.coerce.number().int().min(0).default(100)
    .describe('requests per window per authenticated agent on /token and /revoke; 0 = off'),
  STS_RATE_LIMIT_PER_RESOURCE_SERVER: z.coerce.number().int().min(0).default(0)
    .describe('introspections per window per authenticated resource server; 0 = off'),
  STS_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3_600).default(1)
    .describe('length of the fixed rate-limit window'),
  STS_TRUST_PROXY: z.string().optional()
    .describe("proxies whose X-Forwarded-For is believed, for both stacks: unset = ignored; e.g. 'loopback', '10.0.0.0/8', or a hop count"),
  STS_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000)
    .describe('a client must send its request headers within this; slower ones get 408 and are cut off'),
  STS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000)
    .describe('a client must send its whole request (headers and body) within this; a slower one gets a JSON 408 and its connection is closed, at most a quarter of STS_HEADERS_TIMEOUT_MS late; at least STS_HEADERS_TIMEOUT_MS'),
  STS_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(0).default(5_000)
    .describe('an idle keep-alive connection is closed after this'),
  STS_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(10_000)
    .describe('open connections per process; further ones are dropped at once'),
  STS_AUDIT_TRAIL: z.enum(['on', 'off']).default('on')
    .describe('the hash-chained audit trail in the session store (off: events go to log lines only)'),
  STS_AUDIT_MAX_RECORDS: z.coerce.number().int().min(0).default(1_000_000)
    .describe('keep about this many newest audit records (trimmed by whole stream nodes, so a few more); 0 = no length limit'),
  STS_AUDIT_MAX_AGE_DAYS: z.coerce.number().int().min(0).max(3_650).default(90)
    .describe('drop audit records older than this many days; 0 = no age limit'),
  STS_AUDIT_CHECKPOINT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60)
    .describe('sign a checkpoint of the trail this often while it grows (and after every admin change)'),
  STS_USAGE: z.enum(['on', 'off']).default('on')
    .describe('count issuance and introspection per agent, target and scope in process, for the access review'),
  STS_USAGE_FLUSH_SECONDS: z.coerce.number().int().min(1).max(3_600).default(5)
    .describe('write the in-process usage counts to the store this often'),
  STS_USAGE_RETENTION_DAYS: z.coerce.number().int().min(1).max(3_650).default(90)
    .describe('keep daily usage counts this long: the longest access-review window that is complete'),
  STS_SSF: z.enum(['on', 'off']).default('on')
    .describe('CAEP session-revoked SETs for every kill, per resource server, served by SSF poll (/ssf/poll)'),
  STS_SSF_RETENTION_SECONDS: z.coerce.number().int().min(SSF_MIN_RETENTION_SECONDS).max(30 * 86_400).default(SSF_MIN_RETENTION_SECONDS)
    .describe('keep SETs this long: at least the longest token lifetime, so a subscriber away for less misses nothing'),
  STS_SSF_LONG_POLL_MS: z.coerce.number().int().min(0).max(120_000).default(10_000)
    .describe("the longest a poll with returnImmediately=false waits for a SET; keep it below resource servers' revocationsStaleAfterMs (default 15000)"),
  STS_SSF_MAX_LONG_POLLS: z.coerce.number().int().min(1).max(10_000).default(32)
    .describe('long polls one resource server may hold waiting on one instance; more are answered at once with what there is'),
  STS_SSF_PUSH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000)
    .describe('an SSF push (RFC 8935) not answered within this fails and is retried'),
  STS_SSF_PUSH_RETRY_MS: z.coerce.number().int().min(10).max(60_000).default(1_000)
    .describe('the first wait before retrying a failed push; it doubles on every failure, up to 5 minutes'),
  STS_SSF_PUSH_ALLOW: pushAllow
    .describe('production only: comma-separated addresses, CIDRs and host names push delivery may reach although they are loopback, private, link-local or otherwise internal (for receivers inside your own network)'),
  STS_STALE_CREDENTIAL_DAYS: z.coerce.number().int().min(1).max(3_650).default(90)
    .describe('the access review flags a credential older than this as stale_credential'),
  STS_PROBE_MAX_AGE_DAYS: z.coerce.number().int().min(1).max(3_650).default(7)
    .describe('the access review flags a resource server whose last enforcement probe (agent-sts probe) is older than this as unprobed_resource_server'),
  STS_SCIM_UNSEEN_DAYS: z.coerce.number().int().min(1).max(3_650).default(7)
    .describe('the access review flags a SCIM-provisioned agent the IdP has not read or changed through /scim/v2 for longer than this as not_in_directory'),
  STS_PROBE_INTERVAL_MINUTES: z.coerce.number().int().min(0).max(MAX_PROBE_INTERVAL_MINUTES).default(0)
    .describe('probe every resource server with a registered probe target this often (one instance per resource server per interval); 0 = off'),
});

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** GET /metrics on its own listener (src/http/metrics-server.ts); undefined: off. */
  readonly metricsPort: number | undefined;
  readonly issuer: string;
  readonly redisUrl: string | undefined;
  readonly redisKeyPrefix: string;
  readonly redisCommandTimeoutMs: number;
  readonly registryPath: string;
  readonly registryMode: 'store' | 'file';
  readonly keysDir: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  readonly workers: number;
  readonly rateLimit: { readonly perIp: number; readonly perAgent: number; readonly perResourceServer: number; readonly windowSeconds: number };
  /** undefined: the socket address is the client address. */
  readonly trustProxy: string | number | undefined;
  /** Slow-client limits of the HTTP server (src/http/server.ts). */
  readonly http: { readonly headersTimeoutMs: number; readonly requestTimeoutMs: number; readonly keepAliveTimeoutMs: number; readonly maxConnections: number };
  /** The audit trail (src/audit/trail.ts). */
  readonly audit: { readonly enabled: boolean; readonly maxRecords: number; readonly maxAgeMs: number; readonly checkpointIntervalMs: number };
  /** Usage counts and the access review (src/audit/usage.ts, src/admin/access.ts). */
  readonly usage: { readonly enabled: boolean; readonly flushIntervalMs: number; readonly retentionDays: number; readonly staleCredentialDays: number; readonly probeMaxAgeDays: number; readonly scimUnseenDays: number };
  /** Revocation events for resource servers (src/push/). */
  readonly ssf: {
    readonly enabled: boolean; readonly retentionMs: number; readonly longPollMs: number; readonly maxLongPolls: number;
    readonly pushTimeoutMs: number; readonly pushRetryMs: number;
    readonly pushAllow: PushAllow;
  };
  /** Scheduled enforcement probes (src/admin/probe-schedule.ts); intervalMs 0: off. */
  readonly probe: { readonly intervalMs: number };
}

const MS_PER_DAY = 86_400_000;
const MS_PER_SECOND = 1_000;
const MS_PER_MINUTE = 60_000;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; lists every problem at once; returns a frozen object. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  const production = (parsed.success ? parsed.data.NODE_ENV : env.NODE_ENV) === 'production';
  const issuerRaw = parsed.success ? parsed.data.STS_ISSUER : env.STS_ISSUER;
  if (production && !env.REDIS_URL) problems.push('REDIS_URL: required when NODE_ENV=production');
  if (parsed.success && parsed.data.STS_WORKERS > 1 && !env.REDIS_URL) {
    problems.push('STS_WORKERS: more than one worker needs REDIS_URL (the memory store is per process)');
  }
  if (parsed.success && parsed.data.STS_METRICS_PORT !== undefined) {
    if (parsed.data.STS_METRICS_PORT === parsed.data.PORT) problems.push('STS_METRICS_PORT: must differ from PORT (/metrics is never served on the main port)');
    // Workers sharing one port would each answer some scrapes with their own counts only.
    if (parsed.data.STS_WORKERS > 1) problems.push('STS_METRICS_PORT: needs STS_WORKERS=1 (each worker counts apart; run one worker per pod to scrape it)');
  }
  if (parsed.success && parsed.data.STS_REQUEST_TIMEOUT_MS < parsed.data.STS_HEADERS_TIMEOUT_MS) {
    problems.push('STS_REQUEST_TIMEOUT_MS: must be at least STS_HEADERS_TIMEOUT_MS');
  }
  if (production && !issuerRaw?.startsWith('https:')) problems.push('STS_ISSUER: must be an https URL when NODE_ENV=production');
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const e = parsed.data;
  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST ?? (e.NODE_ENV === 'production' ? ALL_INTERFACES : LOOPBACK),
    metricsPort: e.STS_METRICS_PORT,
    issuer: (e.STS_ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    registryPath: path.resolve(cwd, e.STS_REGISTRY),
    registryMode: e.STS_REGISTRY_MODE,
    keysDir: path.resolve(cwd, e.STS_KEYS_DIR),
    logLevel: e.STS_LOG_LEVEL,
    workers: e.STS_WORKERS,
    rateLimit: Object.freeze({
      perIp: e.STS_RATE_LIMIT_PER_IP,
      perAgent: e.STS_RATE_LIMIT_PER_AGENT,
      perResourceServer: e.STS_RATE_LIMIT_PER_RESOURCE_SERVER,
      windowSeconds: e.STS_RATE_LIMIT_WINDOW_SECONDS,
    }),
    trustProxy: e.STS_TRUST_PROXY === undefined ? undefined : /^\d+$/.test(e.STS_TRUST_PROXY) ? Number(e.STS_TRUST_PROXY) : e.STS_TRUST_PROXY,
    http: Object.freeze({
      headersTimeoutMs: e.STS_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.STS_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.STS_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.STS_MAX_CONNECTIONS,
    }),
    audit: Object.freeze({
      enabled: e.STS_AUDIT_TRAIL === 'on',
      maxRecords: e.STS_AUDIT_MAX_RECORDS,
      maxAgeMs: e.STS_AUDIT_MAX_AGE_DAYS * MS_PER_DAY,
      checkpointIntervalMs: e.STS_AUDIT_CHECKPOINT_SECONDS * MS_PER_SECOND,
    }),
    usage: Object.freeze({
      enabled: e.STS_USAGE === 'on',
      flushIntervalMs: e.STS_USAGE_FLUSH_SECONDS * MS_PER_SECOND,
      retentionDays: e.STS_USAGE_RETENTION_DAYS,
      staleCredentialDays: e.STS_STALE_CREDENTIAL_DAYS,
      probeMaxAgeDays: e.STS_PROBE_MAX_AGE_DAYS,
      scimUnseenDays: e.STS_SCIM_UNSEEN_DAYS,
    }),
    ssf: Object.freeze({
      enabled: e.STS_SSF === 'on',
      retentionMs: e.STS_SSF_RETENTION_SECONDS * MS_PER_SECOND,
      longPollMs: e.STS_SSF_LONG_POLL_MS,
      maxLongPolls: e.STS_SSF_MAX_LONG_POLLS,
      pushTimeoutMs: e.STS_SSF_PUSH_TIMEOUT_MS,
      pushRetryMs: e.STS_SSF_PUSH_RETRY_MS,
      pushAllow: e.STS_SSF_PUSH_ALLOW,
    }),
    probe: Object.freeze({ intervalMs: e.STS_PROBE_INTERVAL_MINUTES * MS_PER_MINUTE }),
  });
}
