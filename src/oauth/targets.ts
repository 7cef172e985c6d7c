import { invalidTarget } from '../errors.js';
import type { OAuthRequest } from './request.js';

/**
 * The one audience a request names, through `resource` (RFC 8707: an absolute URI without a
 * fragment) or `audience` (RFC 8693: any string). agent-sts tokens carry exactly one audience.
 */
export function singleTarget(req: OAuthRequest): string {
  const resources = req.params.get('resource') ?? [];
  const audiences = req.params.get('audience') ?? [];
  for (const r of resources) {
    if (!URL.canParse(r) || r.includes('#')) throw invalidTarget('resource must be an absolute URI without a fragment');
  }
  const targets = [...new Set([...resources, ...audiences])];
  if (targets.length !== 1 || targets[0] === '') throw invalidTarget('name exactly one resource or audience');
  return targets[0]!;
}
