// The floor: bare node:http that reads the body, does exactly one Redis GET per request and returns
// fixed JSON. Nothing useful can answer an introspection with fewer steps on this machine.
// Env: PORT, REDIS_URL. Run by bench/run.mjs as its own process.
import './orphan-guard.mjs';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';

const KEY = 'floor:session';
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 });
await redis.set(KEY, 'x'.repeat(300));

// Shaped and sized like an active introspection response.
const BODY = Buffer.from(JSON.stringify({
  active: true, iss: 'http://127.0.0.1', sub: 'bench-agent', aud: 'https://api.bench.test', client_id: 'bench-sub',
  scope: 'read', exp: 2_000_000_000, iat: 1_999_996_400, jti: 'AAAAAAAAAAAAAAAAAAAAAA', token_type: 'Bearer',
  sid: 'AAAAAAAAAAAAAAAAAAAAAA', act: { sub: 'bench-sub' },
}));
const HEADERS = { 'content-type': 'application/json', 'content-length': BODY.length, 'cache-control': 'no-store' };

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    Buffer.concat(chunks);
    redis.get(KEY).then(
      () => {
        res.writeHead(200, HEADERS);
        res.end(BODY);
      },
      () => {
        res.writeHead(503);
        res.end();
      },
    );
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
