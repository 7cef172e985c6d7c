import type { AgentRecord, ResourceServerRecord } from '../clients/records.js';
import { OAuthError } from '../errors.js';
import { PROBE_OWNER, type ProbeAgentSpec } from '../probe/agents.js';
import type { ProbeAdmin } from '../probe/engine.js';
import type { RegistryActor, RegistryService } from '../registry/service.js';
import type { SessionService } from '../sessions/service.js';

const NOT_FOUND = 404;
const isNotFound = (err: unknown) => err instanceof OAuthError && err.status === NOT_FOUND;

/**
 * The probe's admin side inside the server (the scheduled probe): the same changes the CLI makes
 * over the admin API, made through the registry service and the session service as `actor`, so
 * every one is checked and recorded as any admin change is.
 */
export function serviceProbeAdmin(registry: RegistryService, sessions: SessionService, actor: RegistryActor): ProbeAdmin {
  return {
    async resourceServerScopes(id) {
      return (await registry.read<ResourceServerRecord>('resourceServer', id)).record.scopes;
    },
    async ensureResourceServer(id, scopes) {
      try {
        await registry.read('resourceServer', id);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await registry.createResourceServer(actor, { id, scopes });
      }
    },
    async provisionAgent(spec: ProbeAgentSpec) {
      let current: AgentRecord | undefined;
      try {
        current = (await registry.read<AgentRecord>('agent', spec.id)).record;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!current) {
        const { secret } = await registry.createAgent(actor, spec);
        if (!secret) throw new Error(`the registry made ${spec.id} without a client secret`);
        return secret;
      }
      if (current.owner !== PROBE_OWNER) throw new Error(`agent ${spec.id} exists and is not the probe's (owner ${current.owner}): remove or rename it`);
      const { id, ...patch } = spec;
      // A merge patch keeps targets it does not name: those the spec drops are removed by name.
      const dropped = Object.fromEntries(Object.keys(current.audiences).filter((t) => !(t in spec.audiences)).map((t) => [t, null]));
      await registry.updateAgent(actor, id, { ...patch, audiences: { ...dropped, ...spec.audiences } });
      if (current.disabled) await registry.enableAgent(actor, id);
      const { client_secret: secret } = await registry.addCredential(actor, 'agent', id, { type: 'secret', overlapSeconds: 0 });
      if (!secret) throw new Error(`the registry gave ${id} no new client secret`);
      return secret;
    },
    async killSession(sid) {
      try {
        return await sessions.revokeTree(sid, actor.agent, 'admin', actor.context);
      } catch (err) {
        if (isNotFound(err)) return 0;
        throw err;
      }
    },
    async disableAgent(id) {
      await registry.disableAgent(actor, id);
    },
    async enableAgent(id) {
      await registry.enableAgent(actor, id);
    },
  };
}
