// The admin step: a security admin gets an admin token and kills a session tree through the admin API.
import { perTaskToken } from './agent.mjs';

export async function killSession({ issuer, clientSecret, sid }) {
  const admin = await perTaskToken({ issuer, clientId: 'security-admin', clientSecret, resource: 'urn:agent-sts:admin', scope: 'sessions:kill' });
  const res = await fetch(`${issuer}/admin/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin.access_token}` } });
  if (!res.ok) throw new Error(`kill failed: HTTP ${res.status}`);
  return (await res.json()).revoked;
}
