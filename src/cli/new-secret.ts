import { newSecret } from '../clients/secret.js';

process.stdout.write(`${newSecret()}\n`);
