import type { Command } from 'commander';
import type { resourceServerView } from '../registry/views.js';
import { segment } from './admin-client.js';
import { adminAction, readJsonObject, secretFromStdinOrFile, type AdminRun } from './command-kit.js';
import { parseDuration } from './duration.js';
import { usageError, type CliIo } from './io.js';
import { count, fields, printable, table } from './table.js';

type ServerView = ReturnType<typeof resourceServerView>;
interface PushView {
  endpoint: string;
  authorization: boolean;
  delivery?: { failing: boolean; attempts: number; lastError: string | null; failingSince: string | null };
}

const scopeList = (raw: string) => raw.split(/[,\s]+/).filter(Boolean);
const path = (id: string) => `/admin/resource-servers/${segment(id)}`;

function showServer(s: ServerView): string {
  return [
    fields([['id', s.id], ['scopes', s.scopes.join(' ')], ['source', s.source], ['created', s.created], ['updated', `${s.updated} by ${s.updatedBy}`]]),
    s.credentials.length ? table(['credential', 'type', 'created', 'expires', 'last used'], s.credentials.map((c) => [c.id, c.type, c.created, c.expires, c.lastUsed])) : 'no credentials\n',
  ].join('\n');
}

/** The body from --file, or from --scopes; never both. */
async function body(run: AdminRun, opts: { scopes?: string; file?: string }): Promise<Record<string, unknown>> {
  if (opts.file !== undefined && opts.scopes !== undefined) throw usageError('give the resource server either in --file or as --scopes, not both');
  if (opts.file !== undefined) return readJsonObject(run.io, opts.file);
  return opts.scopes === undefined ? {} : { scopes: scopeList(opts.scopes) };
}

/** `resource-servers ls|show|create|update|rotate|rm` and `resource-servers push show|set|rm`: the APIs that introspect tokens. */
export function register(program: Command, io: CliIo): void {
  const servers = program.command('resource-servers').alias('rs').description('registered resource servers: list, show, create, change, rotate secrets, delete, push registration');

  servers.command('ls').description('every resource server')
    .action(adminAction(io, ['agents:read'], async (run) => {
      const answer = await run.client.get<{ resourceServers: ServerView[] }>('/admin/resource-servers');
      if (run.json) return run.printJson(answer);
      if (!answer.resourceServers.length) return run.print('no resource servers\n');
      run.print(table(['id', 'scopes', 'source'], answer.resourceServers.map((s) => [s.id, s.scopes.join(' '), s.source])));
    }));

  servers.command('show').description('one resource server and its credentials').argument('<id>', 'its URL (the audience agents ask for)')
    .action(adminAction(io, ['agents:read'], async (run, id: string) => {
      const s = await run.client.get<ServerView>(path(id));
      if (run.json) return run.printJson(s);
      run.print(showServer(s));
    }));

  servers.command('create').description('register a resource server; prints its first client secret once (unless --file gives public keys)')
    .argument('<id>', 'its URL (the audience agents ask for)')
    .option('--scopes <scopes>', 'the scopes it offers, comma-separated')
    .option('--file <path>', 'the whole JSON body instead of --scopes (- for stdin)')
    .action(adminAction(io, ['agents:manage'], async (run, id: string, opts: { scopes?: string; file?: string }) => {
      const b = await body(run, opts);
      if (b.id !== undefined && b.id !== id) throw usageError(`the id '${id}' differs from the file's '${String(b.id)}'`);
      if (b.scopes === undefined) throw usageError('give the scopes it offers: --scopes SCOPE[,SCOPE…] (or --file)');
      const created = await run.client.send<ServerView & { client_secret?: string }>('POST', '/admin/resource-servers', { ...b, id });
      if (run.json) return run.printJson(created);
      run.print(`created resource server ${printable(created.id)}\n`);
      if (created.client_secret) run.print(`client secret (shown once, keep it now):\n${created.client_secret}\n`);
    }));

  servers.command('update').description('change the scopes it offers (a JSON merge patch)').argument('<id>')
    .option('--scopes <scopes>', 'the scopes it offers, comma-separated (replaces the list)')
    .option('--file <path>', 'a JSON merge patch instead of --scopes (- for stdin)')
    .action(adminAction(io, ['agents:manage'], async (run, id: string, opts: { scopes?: string; file?: string }) => {
      const patch = await body(run, opts);
      if (!Object.keys(patch).length) throw usageError('nothing to change: give --scopes or --file');
      const updated = await run.client.send<ServerView>('PATCH', path(id), patch);
      if (run.json) return run.printJson(updated);
      run.print(`updated resource server ${printable(updated.id)}: scopes ${updated.scopes.map(printable).join(' ')}\n`);
    }));

  servers.command('rotate').description('a new client secret, printed once; the previous ones keep working for --overlap').argument('<id>')
    .option('--overlap <duration>', 'how long the previous secrets keep working, e.g. 1h (s, m, h, d; at most 7d)', '0')
    .action(adminAction(io, ['agents:manage'], async (run, id: string, opts: { overlap: string }) => {
      const overlapSeconds = parseDuration(opts.overlap);
      const answer = await run.client.send<{ id: string; client_secret: string; previousValidUntil: string | null }>(
        'POST', `${path(id)}/credentials`, { type: 'secret', overlapSeconds });
      if (run.json) return run.printJson(answer);
      const previous = overlapSeconds > 0 && answer.previousValidUntil ? `the previous secrets work until ${printable(answer.previousValidUntil)}` : 'the previous secrets no longer work';
      run.print(`new secret ${printable(answer.id)} for ${printable(id)}; ${previous}\nclient secret (shown once, keep it now):\n${answer.client_secret}\n`);
    }));

  servers.command('rm').description('delete a resource server: its introspection stops at once').argument('<id>')
    .action(adminAction(io, ['agents:manage'], async (run, id: string) => {
      const answer = await run.client.send<{ deleted: true }>('DELETE', path(id));
      if (run.json) return run.printJson(answer);
      run.print(`deleted ${printable(id)}\n`);
    }));

  const push = servers.command('push').description('where agent-sts pushes the resource server\'s kill events (RFC 8935)');

  push.command('show').description('the push endpoint and how delivery goes').argument('<id>')
    .action(adminAction(io, ['agents:read'], async (run, id: string) => {
      const p = await run.client.get<PushView>(`${path(id)}/ssf-push`);
      if (run.json) return run.printJson(p);
      const d = p.delivery;
      run.print(fields([
        ['endpoint', p.endpoint], ['authorization', p.authorization ? 'set (not shown)' : 'none'],
        ['delivery', !d ? '-' : d.failing ? `failing since ${d.failingSince ?? '?'} after ${count(d.attempts, 'attempt')}: ${d.lastError ?? ''}` : 'ok'],
      ]));
    }));

  push.command('set').description('push to this endpoint (delivery starts from the oldest event kept)').argument('<id>')
    .requiredOption('--endpoint <url>', 'the https URL agent-sts POSTs each event to')
    .option('--authorization-stdin', 'read the Authorization header value it sends from the first line of standard input')
    .option('--authorization-file <file>', 'read the Authorization header value from the file\'s first line')
    .action(adminAction(io, ['agents:manage'], async (run, id: string, opts: { endpoint: string; authorizationStdin?: boolean; authorizationFile?: string }) => {
      const authorization = await secretFromStdinOrFile(run.io, { stdin: opts.authorizationStdin, file: opts.authorizationFile }, 'Authorization value');
      const p = await run.client.send<PushView>('PUT', `${path(id)}/ssf-push`, { endpoint: opts.endpoint, ...(authorization ? { authorization } : {}) });
      if (run.json) return run.printJson(p);
      run.print(`${printable(id)} is pushed to ${printable(p.endpoint)}${p.authorization ? ' with an Authorization header' : ''}\n`);
    }));

  push.command('rm').description('stop pushing').argument('<id>')
    .action(adminAction(io, ['agents:manage'], async (run, id: string) => {
      const answer = await run.client.send<{ deleted: true }>('DELETE', `${path(id)}/ssf-push`);
      if (run.json) return run.printJson(answer);
      run.print(`no longer pushing to ${printable(id)}\n`);
    }));
}
