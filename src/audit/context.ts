/**
 * Who asked and when, carried from the HTTP front down to every event and every store write, so a
 * log line, an event and a refusal can be matched to one request.
 */
export interface RequestContext {
  /** The caller's X-Request-Id when well formed, else one made up at the front; echoed back. */
  requestId: string;
  /** When the request arrived, on the service's clock (ms). */
  startedMs: number;
  /** On admin API calls: the session id of the admin token that authorised the call. */
  adminSid?: string;
}
