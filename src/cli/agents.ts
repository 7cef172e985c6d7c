import type { Command } from 'commander';
import type { agentView } from '../registry/views.js';
import { segment } from './admin-client.js';
import { adminAction, readJsonObject, repeated, wholeNumber, type AdminRun } from './command-kit.js';
import { parseDuration } from './duration.js';
import { usageError, type CliIo } from './io.js';
import { withProgress } from './progress.js';
import { count, fields, printable, table } from './table.js';

type AgentView = ReturnType<typeof agentView>;

/** The fields flags can set; anything else (public keys, say) goes in --file. */
interface AgentFlags {
  owner?: string;
  description?: string;
  audience?: string[];
  removeAudience?: string[];
  ttl?: string;
  maxDepth?: number;
  grantTypes?: string;
  /** Deprecated alias: sent as the API's `tokenExchange`, which adds or removes the token-exchange grant type. */
  tokenExchange?: boolean;
  delegates?: string;
  requireDpop?: boolean;
  file?: string;
}

/**
 * `TARGET=SCOPE,SCOPE` → [target, scopes]. Split at the last '=' because a target URI may hold
 * one in its query; a scope containing '=' needs --file.
 */
function audience(raw: string): [string, string[]] {
  const at = raw.lastIndexOf('=');
  const scopes = at < 0 ? [] : raw.slice(at + 1).split(/[,\s]+/).filter(Boolean);
  if (at <= 0 || !scopes.length) throw usageError(`--audience takes TARGET=SCOPE[,SCOPE…], not '${raw}'`);
  return [raw.slice(0, at), scopes];
}

const idList = (raw: string) => raw.split(',').map((s) => s.trim()).filter(Boolean);

/** The API body the flags describe (only the fields given). */
function bodyOf(flags: AgentFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (flags.owner !== undefined) body.owner = flags.owner;
  if (flags.description !== undefined) body.description = flags.description;
  const audiences: Record<string, string[] | null> = {};
  for (const a of flags.audience ?? []) {
    const [target, scopes] = audience(a);
    audiences[target] = scopes;
  }
  for (const target of flags.removeAudience ?? []) audiences[target] = null;
  if (Object.keys(audiences).length) body.audiences = audiences;
  if (flags.ttl !== undefined) body.maxTokenTtlSeconds = parseDuration(flags.ttl);
  if (flags.maxDepth !== undefined) body.maxDelegationDepth = flags.maxDepth;
  if (flags.grantTypes !== undefined) body.grantTypes = idList(flags.grantTypes);
  if (flags.tokenExchange !== undefined) body.tokenExchange = flags.tokenExchange;
  if (flags.delegates !== undefined) body.delegates = idList(flags.delegates);
  if (flags.requireDpop) body.requireDpop = true;
  return body;
}

/** The body from --file, or from the flags; never both, so nothing given is silently dropped. */
async function requestBody(run: AdminRun, flags: AgentFlags): Promise<Record<string, unknown>> {
  const { file, ...rest } = flags;
  const fromFlags = bodyOf(rest);
  if (file === undefined) return fromFlags;
  if (Object.keys(fromFlags).length) throw usageError('give the agent either in --file or as flags, not both');
  return readJsonObject(run.io, file);
}

function showSecret(run: AdminRun, secret: string | undefined): void {
  if (secret) run.print(`client secret (shown once, keep it now):\n${secret}\n`);
}

function showAgent(a: AgentView): string {
  const entitlements = Object.entries(a.audiences).map(([target, scopes]) => [target, scopes.join(' ')]);
  return [
    fields([
      ['id', a.id], ['owner', a.owner], ['description', a.description], ['status', a.disabled ? 'disabled' : 'enabled'],
      ['max token ttl', `${a.maxTokenTtlSeconds} s`], ['max delegation depth', a.maxDelegationDepth], ['grant types', a.grantTypes.join(' ')],
      ['delegates', a.delegates.join(' ')], ['source', a.source], ['created', a.created], ['updated', `${a.updated} by ${a.updatedBy}`],
    ]),
    table(['audience', 'scopes'], entitlements),
    a.credentials.length ? table(['credential', 'type', 'created', 'expires', 'last used'], a.credentials.map((c) => [c.id, c.type, c.created, c.expires, c.lastUsed])) : 'no credentials\n',
  ].join('\n');
}

function fieldFlags(cmd: Command): Command {
  return cmd
    .option('--owner <owner>', 'the accountable team or person')
    .option('--description <text>', 'what the agent is for')
    .option('--audience <target=scopes>', 'a target and the scopes the agent may hold there, comma-separated (repeatable)', repeated)
    .option('--ttl <duration>', 'longest token lifetime, e.g. 5m (s, m, h, d)')
    .option('--max-depth <n>', 'how deep a delegation chain through the agent may go', wholeNumber('--max-depth'))
    .option('--grant-types <types>', 'the grant types it may use, comma-separated (client_credentials, urn:ietf:params:oauth:grant-type:token-exchange)')
    .option('--delegates <ids>', 'agents that may act for it, comma-separated ("" for none)')
    .option('--file <path>', 'the whole JSON body instead of flags (- for stdin)');
}

/** `agents ls|show|create|update|disable|enable|rm|rotate`: the registry's agents. */
export function register(program: Command, io: CliIo): void {
  const agents = program.command('agents').description('registered agents: list, show, create, change, disable, kill sessions, delete, rotate secrets');

  agents.command('ls').description('every agent')
    .action(adminAction(io, ['agents:read'], async (run) => {
      const body = await run.client.get<{ agents: AgentView[] }>('/admin/agents');
      if (run.json) return run.printJson(body);
      if (!body.agents.length) return run.print('no agents\n');
      run.print(table(['id', 'owner', 'status', 'audiences', 'source'],
        body.agents.map((a) => [a.id, a.owner, a.disabled ? 'disabled' : 'enabled', Object.keys(a.audiences).join(' '), a.source])));
    }));

  agents.command('show').description('one agent, its entitlements and credentials').argument('<id>')
    .action(adminAction(io, ['agents:read'], async (run, id: string) => {
      const a = await run.client.get<AgentView>(`/admin/agents/${segment(id)}`);
      if (run.json) return run.printJson(a);
      run.print(showAgent(a));
    }));

  fieldFlags(agents.command('create').description('register an agent; prints its first client secret once (unless --file gives public keys)'))
    .argument('[id]', 'the agent id (or "id" in --file)')
    .option('--token-exchange', 'may use token exchange too (adds it to --grant-types)')
    .option('--require-dpop', 'refuse token requests without a DPoP proof')
    .action(adminAction(io, ['agents:manage'], async (run, id: string | undefined, flags: AgentFlags) => {
      const body = await requestBody(run, flags);
      if (id !== undefined && body.id !== undefined && body.id !== id) throw usageError(`the id '${id}' differs from the file's '${String(body.id)}'`);
      if (id !== undefined) body.id = id;
      if (body.id === undefined) throw usageError('give the agent id');
      if (flags.file === undefined && (flags.owner === undefined || !flags.audience?.length)) {
        throw usageError(`agents create needs ${flags.owner === undefined ? '--owner OWNER' : '--audience TARGET=SCOPE[,SCOPE…]'} (or the whole agent in --file)`);
      }
      const created = await run.client.send<AgentView & { client_secret?: string }>('POST', '/admin/agents', body);
      if (run.json) return run.printJson(created);
      run.print(`created agent ${printable(created.id)}\n`);
      showSecret(run, created.client_secret);
    }));

  fieldFlags(agents.command('update').description('change an agent (a JSON merge patch); narrowing kills the sessions it no longer allows'))
    .argument('<id>')
    .option('--remove-audience <target>', 'take a target away (repeatable)', repeated)
    .option('--token-exchange', 'add token exchange to its grant types')
    .option('--no-token-exchange', 'remove token exchange from its grant types')
    .action(adminAction(io, ['agents:manage'], async (run, id: string, flags: AgentFlags) => {
      const patch = await requestBody(run, flags);
      if (!Object.keys(patch).length) throw usageError('nothing to change: give a flag or --file');
      const updated = await run.client.send<AgentView & { revoked: number }>('PATCH', `/admin/agents/${segment(id)}`, patch);
      if (run.json) return run.printJson(updated);
      run.print(`updated agent ${printable(updated.id)}; revoked ${count(updated.revoked, 'session')}\n`);
    }));

  agents.command('disable').description('refuse its tokens and kill its sessions at once').argument('<id>')
    .action(adminAction(io, ['agents:manage'], async (run, id: string) => {
      const body = await run.client.send<{ disabled: true; revoked: number }>('POST', `/admin/agents/${segment(id)}/disable`);
      if (run.json) return run.printJson(body);
      run.print(`disabled ${printable(id)}; revoked ${count(body.revoked, 'session')}\n`);
    }));

  agents.command('enable').description('let a disabled agent get tokens again').argument('<id>')
    .action(adminAction(io, ['agents:manage'], async (run, id: string) => {
      const body = await run.client.send<{ disabled: false }>('POST', `/admin/agents/${segment(id)}/enable`);
      if (run.json) return run.printJson(body);
      run.print(`enabled ${printable(id)}\n`);
    }));

  agents.command('revoke-sessions').description('kill every session the agent holds, with their subtrees; it stays enabled and may get new tokens').argument('<id>')
    .action(adminAction(io, ['sessions:kill'], async (run, id: string) => {
      const body = await withProgress(run, `revoking the sessions of ${printable(id)}`, run.client.send<{ revoked: number }>('POST', `/admin/agents/${segment(id)}/revoke-sessions`));
      if (run.json) return run.printJson(body);
      run.print(`revoked ${count(body.revoked, 'session')} of ${printable(id)}\n`);
    }));

  agents.command('rm').description('delete an agent: its credentials destroyed, its sessions killed').argument('<id>')
    .action(adminAction(io, ['agents:manage'], async (run, id: string) => {
      const body = await run.client.send<{ deleted: true; revoked: number }>('DELETE', `/admin/agents/${segment(id)}`);
      if (run.json) return run.printJson(body);
      run.print(`deleted ${printable(id)}; revoked ${count(body.revoked, 'session')}\n`);
    }));

  agents.command('rotate').description('a new client secret, printed once; the previous ones keep working for --overlap').argument('<id>')
    .option('--overlap <duration>', 'how long the previous secrets keep working, e.g. 1h (s, m, h, d; at most 7d)', '0')
    .action(adminAction(io, ['agents:manage'], async (run, id: string, opts: { overlap: string }) => {
      const overlapSeconds = parseDuration(opts.overlap);
      const body = await run.client.send<{ id: string; client_secret: string; previousValidUntil: string | null }>(
        'POST', `/admin/agents/${segment(id)}/credentials`, { type: 'secret', overlapSeconds });
      if (run.json) return run.printJson(body);
      const previous = overlapSeconds > 0 && body.previousValidUntil ? `the previous secrets work until ${printable(body.previousValidUntil)}` : 'the previous secrets no longer work';
      run.print(`new secret ${printable(body.id)} for ${printable(id)}; ${previous}\n`);
      showSecret(run, body.client_secret);
    }));
}
