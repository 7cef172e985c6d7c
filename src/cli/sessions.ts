import type { Command } from 'commander';
import type { sessionView } from '../admin/routes.js';
import { segment } from './admin-client.js';
import { adminAction, positiveInt } from './command-kit.js';
import type { CliIo } from './io.js';
import { printable, table } from './table.js';
import { drawTree } from './tree.js';

type SessionView = ReturnType<typeof sessionView>;
type SessionTree = SessionView & { children: SessionTree[] };

/** Who holds it, and for whom when that differs (a delegated or on-behalf-of session). */
const holder = (s: SessionView) => (s.sub === s.agent ? s.agent : `${s.agent} for ${s.sub}`);
const nodeLabel = (s: SessionTree) => [s.sid, holder(s), s.aud, s.scope, `until ${s.expires}`].map(printable).join('  ');

/** `sessions ls|show|kill`: live sessions and their trees. */
export function register(program: Command, io: CliIo): void {
  const sessions = program.command('sessions').description('live sessions: list, show a tree, kill a subtree');

  sessions.command('ls').description('live sessions, soonest-expiring first')
    .option('--agent <id>', 'sessions the agent holds or acts in')
    .option('--sub <sub>', 'sessions on behalf of this subject')
    .option('--limit <n>', 'at most this many (1-1000, the server default 100)', positiveInt('--limit'))
    .action(adminAction(io, ['sessions:read'], async (run, opts: { agent?: string; sub?: string; limit?: number }) => {
      const body = await run.client.get<{ sessions: SessionView[] }>('/admin/sessions', { agent: opts.agent, sub: opts.sub, limit: opts.limit });
      if (run.json) return run.printJson(body);
      if (!body.sessions.length) return run.print('no live sessions\n');
      run.print(table(['sid', 'agent', 'sub', 'aud', 'scope', 'depth', 'expires'],
        body.sessions.map((s) => [s.sid, s.agent, s.sub, s.aud, s.scope, s.depth, s.expires])));
    }));

  sessions.command('show').description('a live session and everything delegated from it, drawn as a tree')
    .argument('<sid>', 'session id')
    .action(adminAction(io, ['sessions:read'], async (run, sid: string) => {
      const tree = await run.client.get<SessionTree>(`/admin/sessions/${segment(sid)}`);
      if (run.json) return run.printJson(tree);
      run.print(drawTree(tree, nodeLabel, (n) => n.children));
    }));

  sessions.command('kill').description('kill a session and its whole subtree')
    .argument('<sid>', 'session id')
    .action(adminAction(io, ['sessions:kill'], async (run, sid: string) => {
      const body = await run.client.send<{ revoked: number }>('DELETE', `/admin/sessions/${segment(sid)}`);
      if (run.json) return run.printJson(body);
      run.print(`revoked ${body.revoked} session${body.revoked === 1 ? '' : 's'}\n`);
    }));
}
