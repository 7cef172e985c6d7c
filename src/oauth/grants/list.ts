import { GRANT_TYPE_VALUES } from '../../clients/attributes.js';
import type { TokenGrant } from './types.js';

/** A grant as the token endpoint dispatches to it: with the parameters it defines that may not repeat, as a set. */
export interface OfferedGrant {
  grant: TokenGrant;
  once: ReadonlySet<string>;
}

/**
 * The grants this server offers, from the one list deps.ts builds: the token endpoint finds one
 * with a Map get, the metadata lists them, the metrics label each. A grant type the registry's
 * `grantTypes` cannot name would be offered to nobody: refused here, at boot.
 */
export class GrantList {
  readonly types: readonly string[];
  /** The authorization grant profiles the offered grants implement (draft-ietf-oauth-identity-assertion-authz-grant §7.2). */
  readonly profiles: readonly string[];
  readonly #byType = new Map<string, OfferedGrant>();

  constructor(grants: readonly TokenGrant[]) {
    for (const grant of grants) {
      if (this.#byType.has(grant.grantType)) throw new Error(`grant type ${grant.grantType} is offered twice`);
      if (!(GRANT_TYPE_VALUES as readonly string[]).includes(grant.grantType)) {
        throw new Error(`grant type ${grant.grantType} is offered but no agent can be allowed it: add it to GRANT_TYPES (src/protocol/tokens.ts)`);
      }
      const repeatable = new Set(grant.repeatable ?? []);
      this.#byType.set(grant.grantType, { grant, once: new Set(grant.parameters.filter((p) => !repeatable.has(p))) });
    }
    this.types = Object.freeze(grants.map((g) => g.grantType));
    this.profiles = Object.freeze([...new Set(grants.flatMap((g) => g.profiles ?? []))]);
  }

  get(grantType: string): OfferedGrant | undefined {
    return this.#byType.get(grantType);
  }
}
