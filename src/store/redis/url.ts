export interface ParsedRedisUrl {
  kind: 'single' | 'sentinel' | 'cluster';
  tls: boolean;
  hosts: { host: string; port: number }[];
  username?: string;
  password?: string;
  /** Sentinel: the monitored master's name. */
  name?: string;
  db?: number;
}

/**
 * `redis+sentinel://[user:pass@]h1:26379,h2:26379/<master>[/<db>]` and
 * `redis+cluster://[user:pass@]h1:6379,h2:6379`; `rediss+…` for TLS.
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const m = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(?:\/([^/?#]*))?(?:\/(\d+))?\/?$/.exec(url);
  if (!m) throw new Error('REDIS_URL: not a redis://, redis+sentinel:// or redis+cluster:// URL');
  const [, scheme, mode, user, pass, hostList, first, second] = m;
  const hosts = hostList!.split(',').map((hp) => {
    const [host, port] = hp.split(':');
    return { host: host!, port: Number(port ?? (mode === 'sentinel' ? 26379 : 6379)) };
  });
  const kind = mode === 'sentinel' ? 'sentinel' : mode === 'cluster' ? 'cluster' : 'single';
  return {
    kind,
    tls: scheme === 'rediss',
    hosts,
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(pass ? { password: decodeURIComponent(pass) } : {}),
    ...(kind === 'sentinel' && first ? { name: first } : {}),
    ...(kind === 'sentinel' && second ? { db: Number(second) } : kind === 'single' && first ? { db: Number(first) } : {}),
  };
}

