// oidc-provider's storage interface over ioredis, written for the benchmark: what a careful user
// would deploy. Each model instance is one JSON string key with a TTL (one SET ... EX, one GET on the
// hot paths); secondary indexes (grant, uid, user code) only when the payload has them.
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

const grantKey = (id) => `grant:${id}`;
const uidKey = (uid) => `uid:${uid}`;
const userCodeKey = (code) => `userCode:${code}`;

/** adapter: redisAdapter(ioredisClient) — pass as `adapter` in the Provider configuration. */
export function redisAdapter(redis) {
  return class RedisAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const value = JSON.stringify(payload);
      const indexed = (GRANTABLE.has(this.model) && payload.grantId) || payload.uid || payload.userCode;
      if (!indexed) {
        await (expiresIn ? redis.set(key, value, 'EX', expiresIn) : redis.set(key, value));
        return;
      }
      const multi = redis.multi();
      if (expiresIn) multi.set(key, value, 'EX', expiresIn);
      else multi.set(key, value);
      if (GRANTABLE.has(this.model) && payload.grantId) {
        multi.rpush(grantKey(payload.grantId), key);
        if (expiresIn) {
          // NX: a new list gets a TTL; GT: an existing one only ever lives longer.
          multi.expire(grantKey(payload.grantId), expiresIn, 'NX');
          multi.expire(grantKey(payload.grantId), expiresIn, 'GT');
        }
      }
      for (const [k, present] of [[uidKey(payload.uid), payload.uid], [userCodeKey(payload.userCode), payload.userCode]]) {
        if (!present) continue;
        if (expiresIn) multi.set(k, id, 'EX', expiresIn);
        else multi.set(k, id);
      }
      await multi.exec();
    }

    async find(id) {
      const value = await redis.get(this.key(id));
      return value ? JSON.parse(value) : undefined;
    }

    async findByUid(uid) {
      const id = await redis.get(uidKey(uid));
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(code) {
      const id = await redis.get(userCodeKey(code));
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      const key = this.key(id);
      const value = await redis.get(key);
      if (!value) return;
      const ttl = await redis.pttl(key);
      const payload = { ...JSON.parse(value), consumed: Math.floor(Date.now() / 1000) };
      await (ttl > 0 ? redis.set(key, JSON.stringify(payload), 'PX', ttl) : redis.set(key, JSON.stringify(payload)));
    }

    async destroy(id) {
      await redis.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const keys = await redis.lrange(grantKey(grantId), 0, -1);
      await redis.del(...keys, grantKey(grantId));
    }
  };
}
