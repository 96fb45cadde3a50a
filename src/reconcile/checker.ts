import type { ScopedUid } from '../registry/registry';
import type { ReconcileDeps } from './types';

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
 * and a trip is settled by witnesses rather than by a percentage alone: for
 * each tenant with missing uids, Firebase must see some of that tenant's
 * users: one in the batch itself, or else one of the uids most recently
 * known to exist (a valid ID token, or an earlier lookup). If it does, the
 * configuration is sound and the missing uids really are gone, however many
 * they are; if it sees none, or there are none to ask, nothing in that
 * tenant is trusted and the uids stay as they were for a later run. So the
 * brake holds for as long as a wrong configuration lasts, and never past it.
 *
 * The cron trips the brake when a batch of ≥ BRAKE_MIN_BATCH uids newly
 * finds more than RECONCILE_MAX_MISSING_PERCENT missing; the admin and
 * self-service paths, whose requests name uids that are expected to be gone,
 * always ask the witnesses, whatever share is missing.
 */
export const BRAKE_MIN_BATCH = 10;
/** Witnesses asked per tenant; one present is enough. */
export const WITNESSES = 10;

export interface CheckResult {
  present: string[];
  /** Confirmed gone: now pending deletion (or, in a dry run, would be). */
  missing: string[];
  /** Found missing, but the brake held them: nothing was done. */
  braked: string[];
  brakeReason?: string;
}

export async function checkUids(batch: ScopedUid[], deps: ReconcileDeps, source: 'cron' | 'admin' | 'self'): Promise<CheckResult> {
  const { registry, firebase, settings } = deps;
  const byTenant = groupByTenant(batch);
  const existing = new Set<string>();
  for (const [tenant, uids] of byTenant) for (const uid of await firebase.existing(uids, tenant)) existing.add(uid);

  const present = batch.filter((entry) => existing.has(entry.uid)).map((entry) => entry.uid);
  const missing = batch.filter((entry) => !existing.has(entry.uid));
  const tripped =
    source !== 'cron' ||
    (batch.length >= BRAKE_MIN_BATCH && missing.length * 100 > batch.length * settings.maxMissingPercent);

  const braked: string[] = [];
  let brakeReason: string | undefined;
  if (missing.length > 0 && tripped) {
    const inBatch = new Set(batch.map((entry) => entry.uid));
    const seenTenants = new Set(batch.filter((entry) => existing.has(entry.uid)).map((entry) => entry.tenant));
    for (const [tenant, uids] of groupByTenant(missing)) {
      if (seenTenants.has(tenant)) continue; // Firebase lists users of this tenant: it is looking in the right place
      const verdict = await askWitnesses(tenant, inBatch, deps);
      if (verdict === 'confirmed') continue;
      braked.push(...uids);
      brakeReason = brakeMessage(tenant, uids.length, batch.length, verdict);
      console.error(JSON.stringify({ event: 'reconcile_brake', source, tenant, missing: uids.length, batch: batch.length, witnesses: verdict }));
    }
  }
  const held = new Set(braked);
  const confirmed = missing.map((entry) => entry.uid).filter((uid) => !held.has(uid));

  if (settings.dryRun) {
    for (const uid of confirmed) console.log(JSON.stringify({ event: 'reconcile_would_delete', uid, mode: settings.deleteMode.label, source }));
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
