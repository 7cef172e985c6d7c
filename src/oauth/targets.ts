import { invalidTarget } from '../errors.js';
import type { OAuthRequest } from './request.js';

/**
 * The distinct audiences a request names, through `resource` (RFC 8707: an absolute URI without a
 * fragment) or `audience` (RFC 8693: any string); none when it names none.
 */
export function namedTargets(req: OAuthRequest): string[] {
  const resources = req.params.get('resource') ?? [];
  const audiences = req.params.get('audience') ?? [];
  for (const r of resources) {
    if (!URL.canParse(r) || r.includes('#')) throw invalidTarget('resource must be an absolute URI without a fragment');
  }
  return [...new Set([...resources, ...audiences])];
}

/** The one audience a request names: agent-sts tokens carry exactly one audience. */
export function singleTarget(req: OAuthRequest): string {
  const targets = namedTargets(req);
  if (targets.length !== 1 || targets[0] === '') throw invalidTarget('name exactly one resource or audience');
  return targets[0]!;
}
