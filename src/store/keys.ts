/**
 * Every Redis key agent-sts writes is built here. Lua scripts that walk trees build child keys
 * from the prefixes exported below, so the layout stays defined in this one file.
 */
export interface RedisKeys {
  /** HASH: one session record; expires with the session. */
  session(sid: string): string;
  /** SET: child session ids of a session; expires no earlier than its children. */
  children(sid: string): string;
  /** ZSET sid→exp(ms): sessions an agent holds or acts in. */
  agentIndex(agentId: string): string;
  /** ZSET sid→exp(ms): sessions by subject. */
  subjectIndex(sub: string): string;
  /** ZSET sid→exp(ms): every live session. */
  allSessions(): string;
  /** STRING: a used single-use id (client assertion jti). */
  usedOnce(id: string): string;
  /** Prefix of rate-limit counters (rate-limiter-flexible appends ':<key>'). */
  rateLimit(kind: 'ip' | 'client'): string;
  readonly prefixes: {
    session: string;
    children: string;
    agentIndex: string;
    subjectIndex: string;
  };
}

export function redisKeys(prefix: string): RedisKeys {
  const prefixes = {
    session: `${prefix}s:`,
    children: `${prefix}c:`,
    agentIndex: `${prefix}ag:`,
    subjectIndex: `${prefix}sub:`,
  };
  return {
    prefixes,
    session: (sid) => prefixes.session + sid,
    children: (sid) => prefixes.children + sid,
    agentIndex: (id) => prefixes.agentIndex + id,
    subjectIndex: (sub) => prefixes.subjectIndex + sub,
    allSessions: () => `${prefix}all`,
    usedOnce: (id) => `${prefix}once:${id}`,
    rateLimit: (kind) => `${prefix}rl:${kind}`,
  };
}
