/**
 * Operator routes, behind `Authorization: Bearer <ADMIN_TOKEN>` (compared in
 * constant time; a missing or wrong token is 401). Absent (404) while
 * ADMIN_TOKEN is unset or reconciliation is not configured.
 *
 * - POST /v1/admin/users/delete {"uids": [...]}: the fast path for backends
 *   that delete Firebase users themselves. Each uid is deleted from Stream
 *   only if it is registered and Firebase confirms it is gone.
 *   Protected from a wrong configuration by witnesses, not by a share
 *   (src/reconcile/checker.ts).
 * - POST /v1/admin/registry/import {"uids": [...], "tenant"?: "..."}: registers
 *   existing Stream users (apps migrating from the Cloud Functions); see
 *   scripts/import-users.mjs.
 * - GET /v1/admin/reconcile/status: registry counts, oldest pending
 *   deletions, the last run, the sweep's progress.
 *
 * @module
 */
import { Hono } from 'hono/tiny';
import { AppError } from '../errors';
import { FirebaseLookupError, MAX_LOOKUP_UIDS } from '../firebase/admin-api';
import type { DoctorReport } from '../doctor';
import { reconcile } from '../reconcile/reconcile';
import { deleteConfirmedGone } from '../reconcile/admin-delete';
import type { Reconciliation } from '../reconcile/types';
import { reconcileStatus } from '../reconcile/status';
import { isServableUid, isTenantId } from '../user-id';
import { bearerCredentials } from './bearer';
import { json } from './respond';

const MAX_IMPORT_UIDS = 1000;

export function createAdminRoutes(
  adminToken: string | undefined,
  reconciliation: Reconciliation,
  doctor: () => Promise<DoctorReport>,
): Hono | undefined {
  // Off: simply absent, a 404 like any unknown path, telling anonymous callers nothing about the configuration.
  if (!adminToken) return undefined;
  const admin = new Hono();

  admin.use('*', async (c, next) => {
    const presented = bearerCredentials(c.req.header('Authorization'));
    if (presented === undefined || presented === null)
      throw new AppError('missing_authorization', 'Send "Authorization: Bearer <ADMIN_TOKEN>"');
    if (!(await constantTimeEqual(presented, adminToken)))
      throw new AppError('invalid_admin_token', "This is not the Worker's ADMIN_TOKEN");
    await next();
  });

  // The doctor answers whether reconciliation is on or not: that is one of the things it reports.
  admin.get('/doctor', async () => json(await doctor()));
  if (!reconciliation.on) return admin;
  const { deps } = reconciliation;

  admin.post('/users/delete', async (c) => {
    const uids = await readUids(c.req.raw, MAX_LOOKUP_UIDS);
    let results;
    try {
      results = await deleteConfirmedGone(uids, deps);
    } catch (error) {
      if (error instanceof FirebaseLookupError) {
        throw new AppError('firebase_failed', 'Firebase could not confirm which users are gone; nothing was deleted', { cause: error });
      }
      throw error;
    }
    return json({ results });
  });

  admin.get('/reconcile/status', async () => json(await reconcileStatus(deps)));

  // One reconciliation run now, as the cron runs it (the same budget and brake), answering its summary.
  // Also how `npm start` triggers the cron locally: wrangler's /__scheduled answers any web page, this route only the admin token.
  admin.post('/reconcile/run', async () => {
    const summary = await reconcile(deps);
    return json(summary); // `error` says when the run stopped on a failure, as the cron's failed run does
  });

  admin.post('/registry/import', async (c) => {
    const { uids, tenant } = await readUidsAndTenant(c.req.raw, MAX_IMPORT_UIDS);
    const added = await deps.registry.importUids(uids, tenant);
    return json({ received: uids.length, added });
  });

  return admin;
}

async function readUids(request: Request, max: number): Promise<string[]> {
  return (await readUidsAndTenant(request, max)).uids;
}

async function readUidsAndTenant(request: Request, max: number): Promise<{ uids: string[]; tenant: string }> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new AppError('invalid_request', 'Body must be JSON: {"uids": ["..."]}');
  }
  const uids = (body as { uids?: unknown } | null)?.uids;
  if (!Array.isArray(uids) || uids.length === 0 || uids.length > max) {
    throw new AppError('invalid_request', `"uids" must be an array of 1 to ${max} user ids`);
  }
  const unique = [...new Set(uids)];
  // Anything but a servable uid could never have been registered nor confirmed gone.
  if (!unique.every(isServableUid)) {
    throw new AppError('invalid_request', 'Every uid must be a Firebase uid (at most 128 characters) that Stream accepts as a user id');
  }
  const tenant = (body as { tenant?: unknown }).tenant ?? '';
  // '' is the project itself (users outside any tenant).
  if (typeof tenant !== 'string' || (tenant !== '' && !isTenantId(tenant))) {
    throw new AppError('invalid_request', '"tenant", if given, must be an Identity Platform tenant id');
  }
  return { uids: unique, tenant };
}

const encoder = new TextEncoder();

/** Compares digests, so neither length nor content leaks through timing. */
async function constantTimeEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(presented)),
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
