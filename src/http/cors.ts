import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { CorsPolicy } from '../config';

/** The headers Firebase's callable clients send; accepted and otherwise ignored. */
export const ALLOWED_REQUEST_HEADERS = [
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
    maxAge: 600,
  });
}
