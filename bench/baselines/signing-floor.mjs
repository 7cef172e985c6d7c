// The issuance floor: bare node:http that reads the body, signs one ES256 JWT of an access token's
// size with node:crypto (synchronously, as agent-sts does), does one Redis SET … EX and returns the
// token as JSON. No client authentication, no checks, no record: the least any issuing endpoint
// that signs and remembers its tokens can do on this machine. Env: PORT, REDIS_URL.
import './orphan-guard.mjs';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';

const TOKEN_TTL_S = 3_600;
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 });
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const HEADER = b64({ alg: 'ES256', typ: 'at+jwt', kid: 'floor' });
const HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    Buffer.concat(chunks);
    const nowS = Math.floor(Date.now() / 1000);
    const sid = randomBytes(12).toString('base64url');
    const input = `${HEADER}.${b64({
      iss: 'http://127.0.0.1', sub: 'bench-agent', aud: 'https://api.bench.test', client_id: 'bench-agent',
      scope: 'read write', iat: nowS, exp: nowS + TOKEN_TTL_S, jti: randomBytes(12).toString('base64url'), sid,
    })}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    redis.set(`floor:${sid}`, createHash('sha256').update(token).digest('base64url'), 'EX', TOKEN_TTL_S).then(
      () => {
        res.writeHead(200, HEADERS);
        res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: TOKEN_TTL_S, scope: 'read write' }));
      },
      () => {
        res.writeHead(503);
        res.end();
      },
    );
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
