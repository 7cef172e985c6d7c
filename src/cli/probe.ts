import type { Command } from 'commander';
import type { agentView, resourceServerView } from '../registry/views.js';
import { PROBE_OWNER, type ProbeAgentSpec } from '../probe/agents.js';
import { ProbeSetupError, runProbe, type ProbeAdmin } from '../probe/engine.js';
import { PROBE_CASES, VERDICT_TEXT, type ProbeReport } from '../probe/report.js';
import { AdminApiError, segment, type AdminClient } from './admin-client.js';
import { adminAction, isLoopbackHost } from './command-kit.js';
import { parseDuration } from './duration.js';
import { CliFailure, EXIT, usageError, type CliIo } from './io.js';
import { count, fields, printable, table } from './table.js';

type AgentView = ReturnType<typeof agentView>;
type ResourceServerView = ReturnType<typeof resourceServerView>;

interface ProbeFlags {
  target: string;
  scope?: string;
  dpop?: boolean;
  killWait: string;
  expiryGrace: string;
}

const MS_PER_SECOND = 1_000;
/** The longest wait a flag may ask for (the report's own bound). */
const MAX_WAIT_SECONDS = 300;

const NOT_FOUND = 404;

/** The probe's admin side over the admin API: its agents made or reset, sessions killed. */
function adminOf(client: AdminClient): ProbeAdmin {
  return {
    async resourceServerScopes(id) {
      return (await client.get<ResourceServerView>(`/admin/resource-servers/${segment(id)}`)).scopes;
    },
    async provisionAgent(spec: ProbeAgentSpec) {
      let current: AgentView | undefined;
      try {
        current = await client.get<AgentView>(`/admin/agents/${segment(spec.id)}`);
      } catch (err) {
        if (!(err instanceof AdminApiError && err.status === NOT_FOUND)) throw err;
      }
      if (!current) {
        const created = await client.send<{ client_secret?: string }>('POST', '/admin/agents', spec);
        if (!created.client_secret) throw new CliFailure(EXIT.server, `the server made ${spec.id} without a client secret`);
        return created.client_secret;
      }
      if (current.owner !== PROBE_OWNER) throw usageError(`agent ${spec.id} exists and is not the probe's (owner ${printable(current.owner)}): remove or rename it`);
      const { id, ...patch } = spec;
      // A merge patch keeps targets it does not name: those the spec drops are removed by name.
      const dropped = Object.fromEntries(Object.keys(current.audiences).filter((t) => !(t in spec.audiences)).map((t) => [t, null]));
      await client.send('PATCH', `/admin/agents/${segment(id)}`, { ...patch, audiences: { ...dropped, ...spec.audiences } });
      if (current.disabled) await client.send('POST', `/admin/agents/${segment(id)}/enable`);
      return (await client.send<{ client_secret: string }>('POST', `/admin/agents/${segment(id)}/credentials`, { type: 'secret', overlapSeconds: 0 })).client_secret;
    },
    async killSession(sid) {
      try {
        return (await client.send<{ revoked: number }>('DELETE', `/admin/sessions/${segment(sid)}`)).revoked;
      } catch (err) {
        if (err instanceof AdminApiError && err.status === NOT_FOUND) return 0;
        throw err;
      }
    },
    async disableAgent(id) {
      await client.send('POST', `/admin/agents/${segment(id)}/disable`);
    },
    async enableAgent(id) {
      await client.send('POST', `/admin/agents/${segment(id)}/enable`);
    },
  };
}

/** The URL the probe calls: http(s); https unless loopback or --insecure (the probe's tokens travel to it). */
function targetUrl(raw: string, insecure: boolean): string {
  if (!URL.canParse(raw)) throw usageError(`--target is not a URL: ${raw}`);
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError('--target must be an http or https URL');
  if (url.protocol === 'http:' && !insecure && !isLoopbackHost(url.hostname)) {
    throw usageError(`refusing plain http to ${url.host}: the probe's tokens would cross the network in clear (--insecure for a lab)`);
  }
  return url.href;
}

function waitMs(flag: string, raw: string): number {
  const seconds = parseDuration(raw);
  if (seconds < 1 || seconds > MAX_WAIT_SECONDS) throw usageError(`${flag} must be from 1 s to ${MAX_WAIT_SECONDS / 60} m`);
  return seconds * MS_PER_SECOND;
}

/** The report for people: the verdict, the kill latency, one line per case. */
export function showReport(r: ProbeReport): string {
  const latency = r.killLatencyMs !== null ? `${r.killLatencyMs} ms` : `no refusal within ${r.killWaitMs} ms`;
  return [
    fields([['resource server', r.resourceServer], ['target', r.target], ['verdict', VERDICT_TEXT[r.verdict]], ['kill latency', latency]]),
    table(['case', 'result', 'status', 'challenge', 'note'], r.cases.map((c) => [
      c.id, c.outcome.replace('_', ' '), c.status, c.challenge, [c.note, c.latencyMs != null ? `after ${c.latencyMs} ms` : undefined].filter(Boolean).join('; '),
    ])),
  ].join('\n');
}

/** `probe RESOURCE_SERVER --target URL`: whether the API refuses what it must; the report is recorded at the STS. */
export function register(program: Command, io: CliIo): void {
  const probe = program.command('probe');
  probe.description('prove an API enforces: present it every kind of token it must refuse, and give the verdict')
    .argument('<resource-server>', 'the registered resource server (its id, the audience of its tokens)')
    .requiredOption('--target <url>', 'a URL of the API a GET may call (a cheap one, e.g. https://api.example.com/health/authz)')
    .option('--scope <scope>', 'the scope the URL requires (adds the missing-scope case)')
    .option('--dpop', 'the API takes DPoP-bound tokens: every token is bound to the probe\'s key and sent with a proof')
    .option('--kill-wait <duration>', 'how long a killed token may keep working before the case fails (s, m)', '10s')
    .option('--expiry-grace <duration>', 'how long after its exp an expired token may keep working (the API\'s clock leeway)', '60s')
    .addHelpText('after', `\nCases:\n${Object.entries(PROBE_CASES).map(([id, what]) => `  ${id.padEnd(20)} ${what}`).join('\n')}\n\n`
      + 'Exit codes: 0 enforcing, 1 usage error, 2 a case failed (or the server refused).')
    .action(adminAction(io, ['agents:read', 'agents:manage', 'sessions:kill'], async (run, resourceServer: string, flags: ProbeFlags) => {
      const target = targetUrl(flags.target, probe.optsWithGlobals<{ insecure?: boolean }>().insecure === true);
      const options = {
        stsUrl: run.client.baseUrl, resourceServer, target, dpop: flags.dpop === true,
        killWaitMs: waitMs('--kill-wait', flags.killWait), expiryGraceMs: waitMs('--expiry-grace', flags.expiryGrace),
        ...(flags.scope !== undefined ? { scope: flags.scope } : {}),
      };
      let outcome: Awaited<ReturnType<typeof runProbe>>;
      try {
        outcome = await runProbe(options, adminOf(run.client));
      } catch (err) {
        if (err instanceof ProbeSetupError) throw usageError(err.message);
        throw err;
      }
      const { report, revoked } = outcome;
      if (run.json) run.printJson({ ...report, cleanup: { revoked } });
      else run.print(`${showReport(report)}\nthe probe's ${count(revoked, 'session')} killed\n`);
      // The evidence: recorded in the audit trail and shown in the access review (exit 2 if refused).
      await run.client.send('POST', `/admin/resource-servers/${segment(resourceServer)}/probes`, report);
      if (report.verdict !== 'enforcing') throw new CliFailure(EXIT.server, `not enforcing: ${VERDICT_TEXT[report.verdict]}`);
    }));
}
