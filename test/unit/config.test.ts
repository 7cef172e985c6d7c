import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const CWD = path.resolve('/srv/agent-sts');

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env, CWD);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
  throw new Error('expected a ConfigError, the configuration was accepted');
}

describe('loadConfig', () => {
  it('with nothing set: development defaults, paths resolved against the working directory', () => {
    expect(loadConfig({}, CWD)).toStrictEqual({
      env: 'development',
      port: 8080,
      host: '127.0.0.1',
      metricsPort: undefined,
      issuer: 'http://localhost:8080',
      redisUrl: undefined,
      redisKeyPrefix: 'sts:',
      redisCommandTimeoutMs: 500,
      registryPath: path.join(CWD, 'config/registry.json'),
      registryMode: 'store',
      keysDir: path.join(CWD, 'keys'),
      logLevel: 'info',
      rateLimit: { perIp: 0, perAgent: 100, perResourceServer: 0, windowSeconds: 1 },
      trustProxy: undefined,
      http: { headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 10_000 },
      workers: 1,
      audit: { enabled: true, maxRecords: 1_000_000, maxAgeMs: 90 * 86_400_000, checkpointIntervalMs: 60_000 },
      usage: { enabled: true, flushIntervalMs: 5_000, retentionDays: 90, staleCredentialDays: 90, probeMaxAgeDays: 7, scimUnseenDays: 7 },
      ssf: { enabled: true, retentionMs: 86_400_000, longPollMs: 10_000, maxLongPolls: 32, pushTimeoutMs: 5_000, pushRetryMs: 1_000, pushAllow: { subnets: [], hosts: [] } },
      probe: { intervalMs: 0 },
    });
  });

  it('SSF retention is at least the longest token lifetime (a day); shorter is refused', () => {
    expect(loadConfig({ STS_SSF_RETENTION_SECONDS: '172800', STS_SSF: 'off' }, CWD).ssf).toEqual({ enabled: false, retentionMs: 172_800_000, longPollMs: 10_000, maxLongPolls: 32, pushTimeoutMs: 5_000, pushRetryMs: 1_000, pushAllow: { subnets: [], hosts: [] } });
    expect(() => loadConfig({ STS_SSF_RETENTION_SECONDS: '3600' }, CWD)).toThrow(/STS_SSF_RETENTION_SECONDS/);
  });

  it('STS_SSF_PUSH_ALLOW: addresses, CIDRs and host names, comma-separated; a host spelled as an address (0x7f.1), a zone id or a bad prefix is refused, naming the variable', () => {
    expect(loadConfig({ STS_SSF_PUSH_ALLOW: '10.0.0.0/8, fd00::/8 ,Events.Corp.Example., 127.0.0.1,::1' }, CWD).ssf.pushAllow).toEqual({
      subnets: [
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' }, { address: 'fd00::', prefix: 8, family: 'ipv6' },
        { address: '127.0.0.1', prefix: 32, family: 'ipv4' }, { address: '::1', prefix: 128, family: 'ipv6' },
      ],
      hosts: ['events.corp.example'],
    });
    expect(problemsOf({ STS_SSF_PUSH_ALLOW: '0x7f.1,2130706433,10.0.0.0/33,fe80::1%eth0,[::1],a_b,10.0.0.0/8/1,host/8' })).toEqual(
      ['0x7f.1', '2130706433', '10.0.0.0/33', 'fe80::1%eth0', '[::1]', 'a_b', '10.0.0.0/8/1', 'host/8']
        .map((e) => `STS_SSF_PUSH_ALLOW: '${e}' is neither an address, a CIDR (10.0.0.0/8, fd00::/8) nor a host name`),
    );
  });

  it('rate limits and the trusted proxy: numbers, 0 turns a limiter off, a hop count or an address list', () => {
    const c = loadConfig({ STS_RATE_LIMIT_PER_IP: '500', STS_RATE_LIMIT_PER_AGENT: '0', STS_RATE_LIMIT_PER_RESOURCE_SERVER: '50', STS_RATE_LIMIT_WINDOW_SECONDS: '10', STS_TRUST_PROXY: '2' }, CWD);
    expect(c.rateLimit).toEqual({ perIp: 500, perAgent: 0, perResourceServer: 50, windowSeconds: 10 });
    expect(c.trustProxy).toBe(2);
    expect(loadConfig({ STS_TRUST_PROXY: 'loopback, 10.0.0.0/8' }, CWD).trustProxy).toBe('loopback, 10.0.0.0/8');
    expect(() => loadConfig({ STS_RATE_LIMIT_PER_IP: '-1' }, CWD)).toThrow(/STS_RATE_LIMIT_PER_IP/);
  });

  it('slow-client limits: the timeouts and the connection cap are read, and a request timeout below the header timeout is refused', () => {
    const c = loadConfig({ STS_HEADERS_TIMEOUT_MS: '2000', STS_REQUEST_TIMEOUT_MS: '3000', STS_KEEP_ALIVE_TIMEOUT_MS: '1000', STS_MAX_CONNECTIONS: '50' }, CWD);
    expect(c.http).toEqual({ headersTimeoutMs: 2_000, requestTimeoutMs: 3_000, keepAliveTimeoutMs: 1_000, maxConnections: 50 });
    expect(() => loadConfig({ STS_HEADERS_TIMEOUT_MS: '6000', STS_REQUEST_TIMEOUT_MS: '5000' }, CWD)).toThrow(/STS_REQUEST_TIMEOUT_MS: must be at least STS_HEADERS_TIMEOUT_MS/);
    expect(() => loadConfig({ STS_MAX_CONNECTIONS: '0' }, CWD)).toThrow(/STS_MAX_CONNECTIONS/);
  });

  it('STS_SCIM_UNSEEN_DAYS: whole days from 1, else refused naming the variable', () => {
    expect(loadConfig({ STS_SCIM_UNSEEN_DAYS: '30' }, CWD).usage.scimUnseenDays).toBe(30);
    for (const bad of ['0', '1.5', 'week']) expect(() => loadConfig({ STS_SCIM_UNSEEN_DAYS: bad }, CWD)).toThrow(/STS_SCIM_UNSEEN_DAYS/);
  });

  it('STS_WORKERS above 1 needs REDIS_URL: the memory store is per process', () => {
    expect(() => loadConfig({ STS_WORKERS: '2' }, CWD)).toThrow(/STS_WORKERS: more than one worker needs REDIS_URL/);
    expect(loadConfig({ STS_WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379' }, CWD).workers).toBe(2);
  });

  it('HOST: 127.0.0.1 by default in development and test, 0.0.0.0 in production, whatever HOST says when set', () => {
    const prod = { NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:6379', STS_ISSUER: 'https://sts.example.com' };
    expect([loadConfig({}, CWD).host, loadConfig({ NODE_ENV: 'test' }, CWD).host, loadConfig(prod, CWD).host]).toEqual(['127.0.0.1', '127.0.0.1', '0.0.0.0']);
    expect([loadConfig({ HOST: '0.0.0.0' }, CWD).host, loadConfig({ ...prod, HOST: '10.0.0.5' }, CWD).host]).toEqual(['0.0.0.0', '10.0.0.5']);
  });

  it('reads every setting; the default issuer follows PORT; a trailing slash is dropped from STS_ISSUER', () => {
    const c = loadConfig(
      {
        NODE_ENV: 'test',
        PORT: '9090',
        HOST: '127.0.0.1',
        REDIS_URL: 'redis://127.0.0.1:6390',
        REDIS_KEY_PREFIX: 'x:y_',
        REDIS_COMMAND_TIMEOUT_MS: '250',
        STS_REGISTRY: '/etc/sts/registry.json',
        STS_KEYS_DIR: 'secrets/keys',
        STS_LOG_LEVEL: 'warn',
      },
      CWD,
    );
    expect(c).toMatchObject({
      env: 'test',
      port: 9090,
      host: '127.0.0.1',
      issuer: 'http://localhost:9090',
      redisUrl: 'redis://127.0.0.1:6390',
      redisKeyPrefix: 'x:y_',
      redisCommandTimeoutMs: 250,
      registryPath: '/etc/sts/registry.json',
      keysDir: path.join(CWD, 'secrets/keys'),
      logLevel: 'warn',
    });
    expect(loadConfig({ STS_ISSUER: 'https://sts.example.com/' }, CWD).issuer).toBe('https://sts.example.com');
  });

  it('lists every problem together, each naming its variable', () => {
    const problems = problemsOf({
      NODE_ENV: 'staging',
      PORT: 'eighty',
      STS_ISSUER: 'ftp://sts.example.com',
      REDIS_KEY_PREFIX: 'has space',
      REDIS_COMMAND_TIMEOUT_MS: '-5',
      STS_LOG_LEVEL: 'loud',
    });
    for (const name of ['NODE_ENV', 'PORT', 'STS_ISSUER', 'REDIS_KEY_PREFIX', 'REDIS_COMMAND_TIMEOUT_MS', 'STS_LOG_LEVEL']) {
      expect(problems.filter((p) => p.startsWith(`${name}:`))).toHaveLength(1);
    }
    expect(problems).toHaveLength(6);
  });

  it('the error message shows every problem', () => {
    expect(() => loadConfig({ PORT: '70000', STS_LOG_LEVEL: 'loud' }, CWD)).toThrow(/PORT:[\s\S]*STS_LOG_LEVEL:/);
  });

  it('production without REDIS_URL is refused', () => {
    expect(problemsOf({ NODE_ENV: 'production', STS_ISSUER: 'https://sts.example.com' })).toEqual([
      'REDIS_URL: required when NODE_ENV=production',
    ]);
    expect(
      loadConfig({ NODE_ENV: 'production', STS_ISSUER: 'https://sts.example.com', REDIS_URL: 'redis://redis:6379' }, CWD).env,
    ).toBe('production');
  });

  it('production with an http issuer is refused, listed together with a missing REDIS_URL', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toHaveLength(2);
    expect(problems.some((p) => p.startsWith('REDIS_URL:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('STS_ISSUER:'))).toBe(true);
  });

  it('production rules are reported together with malformed values, not only after them', () => {
    const problems = problemsOf({ NODE_ENV: 'production', STS_ISSUER: 'https://sts.example.com', PORT: 'eighty' });
    expect(problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('REDIS_URL:'))).toBe(true);
  });

  it('returns a frozen object', () => {
    const c = loadConfig({}, CWD);
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(c.port).toBe(8080);
  });
});

describe('STS_REGISTRY_MODE', () => {
  it('is store unless set to file; anything else is refused at boot, naming the variable', () => {
    expect(loadConfig({ STS_REGISTRY_MODE: 'file' }).registryMode).toBe('file');
    expect(() => loadConfig({ STS_REGISTRY_MODE: 'gitops' })).toThrow(/STS_REGISTRY_MODE/);
  });
});
