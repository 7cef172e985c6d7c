import type { Command } from 'commander';
import type { AccessReview } from '../admin/access-review.js';
import type { ResourceServerReview } from '../admin/probe-review.js';
import { segment } from './admin-client.js';
import { adminAction, positiveInt } from './command-kit.js';
import { usageError, type CliIo } from './io.js';
import { printable, table } from './table.js';

interface AccessOptions {
  all?: boolean;
  days?: number;
  csv?: boolean;
}

const heldCount = (r: AccessReview) => r.held.reduce((n, h) => n + h.sessions + h.delegated, 0);

/** Per entitlement: what it may hold, what it holds now, and what it did in the window. */
function oneReview(r: AccessReview): string {
  const rows = Object.entries(r.entitlements).flatMap(([target, scopes]) => scopes.map((scope) => {
    const used = r.usage.find((u) => u.target === target && u.scope === scope);
    const held = r.held.find((h) => h.target === target && h.scope === scope);
    return [target, scope, used?.issued ?? 0, used?.lastIssued, used?.introspected ?? 0, held ? held.sessions + held.delegated : 0];
  }));
  const head = `${printable(r.agent)} (owner ${printable(r.owner)}, ${r.disabled ? 'disabled' : 'enabled'}): the last ${r.window.days} days${r.window.note ? ` (${printable(r.window.note)})` : ''}\n\n`;
  const findings = r.findings.length ? table(['finding', 'detail'], r.findings.map((f) => [f.kind, f.detail])) : 'no findings\n';
  return `${head}${table(['target', 'scope', 'issued', 'last issued', 'introspected', 'held'], rows)}\n${findings}`;
}

/** `access AGENT` and `access --all`: the live access review. */
export function register(program: Command, io: CliIo): void {
  program.command('access').description('the access review: what an agent may reach, holds now, and used (or not)')
    .argument('[agent]', 'one agent (or --all)')
    .option('--all', 'every agent')
    .option('--days <n>', 'the usage window (the server default 30)', positiveInt('--days'))
    .option('--csv', 'with --all: the review as CSV, one line per entitlement, held scope and finding')
    .action(adminAction(io, ['agents:read'], async (run, agent: string | undefined, opts: AccessOptions) => {
      if ((agent === undefined) === !opts.all) throw usageError('give one agent or --all');
      if (opts.csv && !opts.all) throw usageError('--csv goes with --all');
      const query = { days: opts.days };
      if (agent !== undefined) {
        const review = await run.client.get<AccessReview>(`/admin/agents/${segment(agent)}/access`, query);
        return run.json ? run.printJson(review) : run.print(oneReview(review));
      }
      if (opts.csv) return run.print(await run.client.getText('/admin/access-review', 'text/csv', query));
      const body = await run.client.get<{ window: AccessReview['window']; agents: AccessReview[]; resourceServers?: ResourceServerReview[] }>('/admin/access-review', query);
      if (run.json) return run.printJson(body);
      run.print(table(['agent', 'owner', 'status', 'entitlements', 'unused', 'held', 'findings'], body.agents.map((r) => [
        r.agent, r.owner, r.disabled ? 'disabled' : 'enabled', Object.values(r.entitlements).flat().length, r.unused.length, heldCount(r), r.findings.length,
      ])));
      if (body.resourceServers?.length) {
        run.print(`\n${table(['resource server', 'last probe', 'verdict', 'findings'], body.resourceServers.map((s) => [
          s.resourceServer, s.lastProbe?.recorded, s.lastProbe?.verdict, s.findings.map((f) => f.kind).join(' '),
        ]))}`);
      }
    }));
}
