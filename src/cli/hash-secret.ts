import { hashSecret } from '../clients/secret.js';

const secret = process.argv[2];
if (!secret) {
  process.stderr.write('usage: npm run --silent hash-secret -- <secret>\n');
  process.exit(2);
}
try {
  process.stdout.write(`${hashSecret(secret)}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
