import { Hono } from 'hono';
import { AppError } from '../errors';
import { FirebaseLookupError, MAX_LOOKUP_UIDS } from '../firebase/admin-api';
import { checkAndDelete, ReconcileBrakeError, type ReconcileDeps, type UidOutcome } from '../reconcile/reconcile';
import { isValidStreamUserId } from '../stream/profile';
import { json } from './respond';

/**
 * Operator routes, behind `Authorization: Bearer <ADMIN_TOKEN>` (compared in
 * constant time). Off (403) while ADMIN_TOKEN is unset or reconciliation is
 * not configured.
 *
 * - POST /v1/admin/users/delete {"uids": [...]}: the fast path for backends
 *   that delete Firebase users themselves. Each uid is deleted from Stream
 *   only if it is registered and Firebase confirms it is gone.
 * - POST /v1/admin/registry/import {"uids": [...]}: registers existing Stream
 *   users (apps migrating from the Cloud Functions); see scripts/import-users.mjs.
 */
export const MAX_IMPORT_UIDS = 1000;

export function createAdminRoutes(adminToken: string | undefined, reconcile: ReconcileDeps | undefined): Hono {
  const admin = new Hono();

  admin.use('*', async (c, next) => {
    if (!adminToken || !reconcile) {
      throw new AppError('forbidden', 'Admin routes are off: set ADMIN_TOKEN and configure reconciliation (DB, Firebase admin access)');
    }
    const presented = /^Bearer[ ]+(\S+)$/i.exec(c.req.header('Authorization')?.trim() ?? '')?.[1];
    if (presented === undefined) throw new AppError('missing_authorization', 'Send "Authorization: Bearer <ADMIN_TOKEN>"');
    if (!(await constantTimeEqual(presented, adminToken))) throw new AppError('invalid_token', 'Admin token is not valid');
    await next();
  });

  admin.post('/users/delete', async (c) => {
    const uids = await readUids(c.req.raw, MAX_LOOKUP_UIDS);
    const deps = reconcile!;
    const registered = await deps.registry.lookup(uids);
    const results: Record<string, UidOutcome | 'not_registered' | 'already_deleted'> = {};
    const candidates: string[] = [];
    for (const uid of uids) {
      const state = registered.get(uid);
      if (state === undefined) results[uid] = 'not_registered';
      else if (state === 'deleted') results[uid] = 'already_deleted';
      else candidates.push(uid);
    }
    try {
      // The same per-run delete budget as the cron keeps one request within Workers' subrequest limit.
      const outcomes = await checkAndDelete(candidates, deps, 'admin', deps.settings.maxDeletes);
      for (const [uid, outcome] of outcomes) results[uid] = outcome === 'present' ? 'present' : outcome;
    } catch (error) {
      if (error instanceof FirebaseLookupError || error instanceof ReconcileBrakeError) {
        throw new AppError('firebase_failed', 'Firebase could not confirm which users are gone; nothing was deleted', { cause: error });
      }
      throw error;
    }
    return json({ results });
  });

  admin.post('/registry/import', async (c) => {
    const uids = await readUids(c.req.raw, MAX_IMPORT_UIDS);
    const added = await reconcile!.registry.importUids(uids);
    return json({ received: uids.length, added });
  });

  return admin;
}

async function readUids(request: Request, max: number): Promise<string[]> {
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
  // Firebase uids are at most 128 characters; anything else could never be confirmed gone.
  if (!unique.every((uid): uid is string => typeof uid === 'string' && uid.length <= 128 && isValidStreamUserId(uid))) {
    throw new AppError('invalid_request', 'Every uid must be a Firebase uid (at most 128 characters) that Stream accepts as a user id');
  }
  return unique;
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
