import type { RequestHandler, Router } from 'express';
import type { JWK } from 'jose';
import type { RegistryEvent } from '../audit/events.js';
import type { AgentRecord, Credential, ResourceServerRecord } from '../clients/records.js';
import type { RegistryKind } from '../store/registry.js';
import {
  conflict, newKeyCredential, notFound, parseBody, rotateSecret, rotationBody, unexpiredCredentials, updateRecord,
  type RegistryAdmin, type Rotated, type RotationBody,
} from './registry-common.js';
import { jsonOrEmpty, only, parseJson, type AdminRequest } from './http-kit.js';

export type CredentialChange = 'credential_rotated' | 'credential_deleted';
export interface CredentialEventFields { by: string; credential: string; credentialType: Credential['type']; previousValidUntil?: string | null }

/** One registry kind's credential routes: where they live, what a 404/409 calls it, how its events are named. */
export interface CredentialKind {
  kind: RegistryKind;
  /** '/agents' mounts '/agents/:id/credentials' and '/agents/:id/credentials/:credentialId'. */
  path: string;
  what: string;
  event: (change: CredentialChange, id: string, fields: CredentialEventFields) => RegistryEvent;
}

/** What the kind's router already holds for its other routes. */
export interface CredentialRouteDeps {
  reg: RegistryAdmin;
  manage: RequestHandler;
  now: () => number;
  record: (req: AdminRequest, e: RegistryEvent) => Promise<unknown>;
  writable: (id: string) => void;
}

type RegistryRecord = AgentRecord | ResourceServerRecord;

/** The record's live credentials with a new secret (overlapping the previous ones) or a new public key. */
async function addCredential(live: Credential[], body: RotationBody, nowMs: number): Promise<Rotated> {
  if (body.type === 'secret') return rotateSecret(live, body.overlapSeconds, nowMs);
  const key = await newKeyCredential(body.jwk as JWK, new Date(nowMs).toISOString());
  if (live.some((c) => c.id === key.id)) throw conflict(`credential "${key.id}" exists`);
  return { credentials: [...live, key], answer: { id: key.id } };
}

const withCredentials = (cur: RegistryRecord, credentials: Credential[], nowMs: number, by: string): RegistryRecord =>
  ({ ...cur, credentials, updated: new Date(nowMs).toISOString(), updatedBy: by });

/** Mounts POST {path}/:id/credentials (rotate or add) and DELETE {path}/:id/credentials/:credentialId on `r`. */
export function mountCredentialRoutes(r: Router, spec: CredentialKind, deps: CredentialRouteDeps): void {
  const { reg, manage, now, record, writable } = deps;

  r.route(`${spec.path}/:id/credentials`)
    .post(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      writable(id);
      const body = parseBody(rotationBody, req.body);
      const nowMs = now();
      const { extra } = await updateRecord<RegistryRecord, Rotated['answer']>(reg, spec.kind, id, spec.what, async (cur) => {
        const added = await addCredential(unexpiredCredentials(cur.credentials, nowMs), body, nowMs);
        return { next: withCredentials(cur, added.credentials, nowMs, req.admin!.agent), extra: added.answer };
      });
      await record(req, spec.event('credential_rotated', id, {
        by: req.admin!.agent, credential: extra.id, credentialType: body.type,
        ...(extra.previousValidUntil !== undefined ? { previousValidUntil: extra.previousValidUntil } : {}),
      }));
      res.status(201).json(body.type === 'secret' ? extra : { id: extra.id, type: 'jwk' });
    })
    .all(only('POST'));

  r.route(`${spec.path}/:id/credentials/:credentialId`)
    .delete(manage, jsonOrEmpty, parseJson, async (req: AdminRequest, res) => {
      const id = String(req.params.id);
      const credential = String(req.params.credentialId);
      writable(id);
      const { extra } = await updateRecord<RegistryRecord, Credential['type']>(reg, spec.kind, id, spec.what, (cur) => {
        const c = cur.credentials.find((x) => x.id === credential);
        if (!c) throw notFound('credential');
        return { next: withCredentials(cur, cur.credentials.filter((x) => x !== c), now(), req.admin!.agent), extra: c.type };
      });
      await record(req, spec.event('credential_deleted', id, { by: req.admin!.agent, credential, credentialType: extra }));
      res.json({ deleted: true });
    })
    .all(only('DELETE'));
}
