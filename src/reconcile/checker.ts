/**
 * Asks Firebase which of a batch of registered, active uids still exist,
 * each in its own tenant, and records the answer: present uids are marked
 * alive, newly missing ones become pending deletions. Throws
 * FirebaseLookupError, having recorded nothing, when Firebase cannot say.
 *
 * The brake guards against misconfiguration (a wrong project, credentials or
 * tenant, an emptied emulator), where every user looks deleted; not against
 * backlog or high deletion rates. It judges only fresh evidence (the batch's
 * active uids newly found missing: never uids already pending or deferred),
 * and it is settled by witnesses: for each tenant with missing uids,
 * Firebase must see some of that tenant's users, asked the same way: one in
 * the batch itself, or else one of the uids most recently known to exist (a
 * valid ID token, or an earlier lookup). If Firebase sees one, the configuration
 * is sound and the missing uids really are gone, however many they are; if
 * it sees none, or there are none to ask, nothing in that tenant is trusted
 * and the uids stay as they were for a later run. So the brake holds for as
 * long as a wrong configuration lasts, and never past it.
 *
 * Every path asks: the cron's batches of any size (the last page of a sweep,
 * a registry of five, a recheck batch, a short queue slice), the admin path
 * and the self-service path. A batch that skipped the question because it was
 * small would let a small registry under a wrong FIREBASE_PROJECT_ID be
 * deleted whole. RECONCILE_MAX_MISSING_PERCENT does not choose when to ask;
 * it only marks a batch for an operator's look (`reconcile_mass_missing`).
 *
 * @module
 */
import type { ScopedUid } from '../registry/registry';
import type { ReconcileDeps } from './types';
import { log } from '../platform/log';

/**
 * Witnesses asked per tenant, in one lookup (Firebase takes 100 ids a call,
 * so asking 100 costs what asking 10 did); one present is enough. Many, so
 * that a run of recently active users who all deleted their accounts cannot
 * deny a sound configuration.
 */
const WITNESSES = 100;

export interface CheckResult {
  present: string[];
  /** Confirmed gone: now pending deletion (or, in a dry run, would be). */
  missing: string[];
  /** Found missing, but the brake held them: nothing was done. */
  braked: string[];
  brakeReason?: string;
}

export async function checkUids(
  batch: ScopedUid[],
  deps: ReconcileDeps,
  source: 'cron' | 'admin' | 'self' | 'event',
): Promise<CheckResult> {
  const { registry, firebase, settings } = deps;
  const byTenant = groupByTenant(batch);
  const existing = new Set<string>();
  for (const [tenant, uids] of byTenant) for (const uid of await firebase.existing(uids, tenant)) existing.add(uid);

  const present = batch.filter((entry) => existing.has(entry.uid)).map((entry) => entry.uid);
  const missing = batch.filter((entry) => !existing.has(entry.uid));
  if (source === 'cron' && missing.length * 100 > batch.length * settings.maxMissingPercent) {
    // Not a brake by itself (a real wave of deletions is deleted); worth an operator's look.
    log.warn('reconcile_mass_missing', { source, missing: missing.length, batch: batch.length });
  }

  const braked: string[] = [];
  let brakeReason: string | undefined;
  if (missing.length > 0) {
    const inBatch = new Set(batch.map((entry) => entry.uid));
    const seenTenants = new Set(batch.filter((entry) => existing.has(entry.uid)).map((entry) => entry.tenant));
    for (const [tenant, uids] of groupByTenant(missing)) {
      if (seenTenants.has(tenant)) continue; // Firebase lists users of this tenant: it is looking in the right place
      const verdict = await askWitnesses(tenant, inBatch, deps);
      if (verdict === 'confirmed') continue;
      braked.push(...uids);
      brakeReason = brakeMessage(tenant, uids.length, batch.length, verdict);
      log.error('reconcile_brake', { source, tenant, missing: uids.length, batch: batch.length, witnesses: verdict });
    }
  }
  const held = new Set(braked);
  const confirmed = missing.map((entry) => entry.uid).filter((uid) => !held.has(uid));

  if (settings.dryRun) {
    for (const uid of confirmed) log.info('reconcile_would_delete', { uid, mode: settings.deleteMode.label, source });
    await registry.markChecked(batch.map((entry) => entry.uid));
  } else {
    await registry.markPresent(present);
    await registry.markMissing(confirmed);
  }
  return { present, missing: confirmed, braked, ...(brakeReason ? { brakeReason } : {}) };
}

/**
 * Whether Firebase, asked as for the batch, sees users of `tenant` known to
 * exist (outside the batch). 'none' when the registry knows no such user yet.
 */
async function askWitnesses(tenant: string, exclude: ReadonlySet<string>, deps: ReconcileDeps): Promise<'confirmed' | 'denied' | 'none'> {
  const candidates = (await deps.registry.witnesses(tenant, WITNESSES + exclude.size))
    .filter((uid) => !exclude.has(uid))
    .slice(0, WITNESSES);
  if (candidates.length === 0) return 'none';
  const seen = await deps.firebase.existing(candidates, tenant);
  if (seen.size === 0) return 'denied';
  if (!deps.settings.dryRun) await deps.registry.markPresent([...seen]);
  return 'confirmed';
}

function brakeMessage(tenant: string, missing: number, batch: number, verdict: 'denied' | 'none'): string {
  const scope = tenant === '' ? 'project-level users' : `tenant "${tenant}"`;
  const why =
    verdict === 'denied'
      ? 'and Firebase does not see any of the users most recently known to exist either'
      : 'and no user of that scope is known to exist yet to confirm it';
  return (
    `brake: ${missing} of ${batch} uids (${scope}) look deleted from Firebase ${why}; nothing was deleted. ` +
    'Check FIREBASE_PROJECT_ID, GOOGLE_SERVICE_ACCOUNT and FIREBASE_TENANT_IDS; the uids are checked again on the next sweep'
  );
}

export function groupByTenant<T extends ScopedUid>(entries: readonly T[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const { uid, tenant } of entries) groups.set(tenant, [...(groups.get(tenant) ?? []), uid]);
  return groups;
}
