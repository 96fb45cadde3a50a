import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

/** CORS_ALLOWED_ORIGINS, parsed: no CORS headers at all, any origin, or a list of origins. */
export type CorsPolicy = { kind: 'none' } | { kind: 'any' } | { kind: 'list'; origins: ReadonlySet<string> };

/** The headers Firebase's callable clients send; accepted and otherwise ignored. */
const ALLOWED_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'Firebase-Instance-ID-Token',
  'X-Firebase-AppCheck',
  'X-Firebase-Client',
  'X-Firebase-GMPID',
];

/** CORS per CORS_ALLOWED_ORIGINS, or nothing at all when it is empty. */
export function corsMiddleware(policy: CorsPolicy): MiddlewareHandler | undefined {
  if (policy.kind === 'none') return undefined;
  return cors({
    origin: policy.kind === 'any' ? '*' : (origin) => (policy.origins.has(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ALLOWED_REQUEST_HEADERS,
    // Not CORS-safelisted: without this a web page cannot read when to come back after a 429 or 503
    // (found by the browser test of the token provider, issue 16).
    exposeHeaders: ['Retry-After'],
    maxAge: 600,
  });
}
