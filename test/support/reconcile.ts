/** Helpers for the reconciliation tests: the shared D1 registry, the cron, the Auth emulator and a service account. */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env as baseEnv } from 'cloudflare:workers';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { inject } from 'vitest';
import type { Env } from '../../src/env';
import worker from '../../src/index';
import { captureConsole } from './console';
import { PROJECT_ID, type Scenario } from './fixtures';
import { NearRegistry } from '../../src/registry/near-registry';
import { UserRegistry } from '../../src/registry/registry';
import { RegistryWriteBehind, type RegisterMessage } from '../../src/registry/write-behind';

export const DB = baseEnv.DB;

export interface RegistryRow {
  uid: string;
  tenant: string;
  state: string;
  first_seen_at: number;
  last_checked_at: number | null;
  deleted_how: string | null;
  failures: number;
  recheck: number;
  task_id: string | null;
  next_attempt_at: number | null;
  alive_at: number | null;
  last_error: string | null;
}

export async function clearRegistry(): Promise<void> {
  await DB.batch([DB.prepare('DELETE FROM stream_users'), DB.prepare('DELETE FROM reconcile_state')]);
}

export async function registryRows(): Promise<Map<string, RegistryRow>> {
  const { results } = await DB.prepare(
    'SELECT uid, tenant, state, first_seen_at, last_checked_at, deleted_how, failures, recheck, task_id, next_attempt_at, alive_at, last_error FROM stream_users',
  ).all<RegistryRow>();
  return new Map(results.map((row) => [row.uid, row]));
}

/** Registers uids as an operator import would: never seen alive, so none of them can be a witness yet. */
export async function register(uids: string[], tenant = ''): Promise<void> {
  await DB.batch(
    uids.map((uid) => DB.prepare('INSERT INTO stream_users (uid, tenant, first_seen_at) VALUES (?, ?, ?)').bind(uid, tenant, Date.now())),
  );
}

/** Registers uids as seen alive (a valid ID token) `agoMs` ago: the brake's witnesses. */
export async function registerAlive(uids: string[], tenant = '', agoMs = 60_000): Promise<void> {
  const at = Date.now() - agoMs;
  await DB.batch(
    uids.map((uid) =>
      DB.prepare('INSERT INTO stream_users (uid, tenant, first_seen_at, alive_at) VALUES (?, ?, ?, ?)').bind(uid, tenant, at, at),
    ),
  );
}

/**
 * A user Firebase still has and the registry knows alive: the brake's witness, which every path asks
 * before trusting "missing". `existing`: the other uids Firebase has.
 */
export async function withWitness(scenario: Scenario, existing: string[] = []): Promise<void> {
  await registerAlive([WITNESS]);
  await scenario.setGoogleAdmin({ existing: [...existing, WITNESS] });
}
export const WITNESS = 'witness-present';

/** Makes every pending deletion due now, as if its backoff had passed. */
export async function makeDeletionsDue(): Promise<void> {
  await DB.prepare(`UPDATE stream_users SET next_attempt_at = 0 WHERE state = 'pending_delete'`).run();
}

/** Runs the Worker's scheduled handler as the cron would and returns the summary it logged. */
export async function runCron(env: Env): Promise<Record<string, unknown>> {
  const { lines: logged, restore } = captureConsole();
  let thrown: unknown;
  try {
    const ctx = createExecutionContext();
    // A run that stopped on a failure throws (so Cloudflare shows a failed run); the summary says why.
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/15 * * * *' }), env, ctx).catch(
      (error: unknown) => {
        thrown = error;
      },
    );
    await waitOnExecutionContext(ctx);
  } finally {
    restore();
  }
  const line = logged.find((entry) => entry.includes('"reconcile_summary"'));
  if (!line) throw new Error(`no reconcile summary was logged:\n${logged.join('\n')}`);
  const summary = JSON.parse(line) as Record<string, unknown>;
  // The handler throws exactly when the run stopped on a failure.
  if (Boolean(summary.error) !== (thrown !== undefined))
    throw new Error(`summary error ${String(summary.error)} but thrown ${String(thrown)}`);
  return summary;
}

/** The user ids a scenario's Stream stand-in was asked to delete (`POST /users/delete`), in order. */
export async function streamDeletes(scenario: Scenario): Promise<string[]> {
  return (await scenario.streamRequests())
    .filter((request) => request.method === 'POST' && request.path === '/users/delete')
    .flatMap((request) => (request.body as { user_ids: string[] }).user_ids);
}

// --- the real Firebase Auth emulator ---

export function emulatorHost(): string {
  return inject('authEmulatorHost');
}

const emulatorApi = () => `http://${emulatorHost()}/identitytoolkit.googleapis.com/v1`;

/** Signs a user up (in `tenant`, when given) and returns the emulator's unsigned ID token. */
export async function emulatorSignUp(email: string, tenant?: string): Promise<{ uid: string; idToken: string }> {
  const response = await fetch(`${emulatorApi()}/accounts:signUp?key=fake-api-key`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: 'password-123', returnSecureToken: true, ...(tenant ? { tenantId: tenant } : {}) }),
  });
  if (!response.ok) throw new Error(`signUp: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { localId: string; idToken: string };
  return { uid: body.localId, idToken: body.idToken };
}

export async function emulatorDeleteUser(uid: string, tenant?: string): Promise<void> {
  const response = await fetch(`${emulatorApi()}/projects/${PROJECT_ID}/accounts:delete`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer owner' },
    body: JSON.stringify({ localId: uid, ...(tenant ? { tenantId: tenant } : {}) }),
  });
  if (!response.ok) throw new Error(`accounts:delete: HTTP ${response.status} ${await response.text()}`);
}

/** Updates an account in the emulator as the Admin SDK would: disable it, or revoke its tokens (validSince, Unix seconds). */
export async function emulatorUpdateUser(uid: string, update: { disableUser?: boolean; validSince?: number }): Promise<void> {
  const body = { localId: uid, ...update, ...(update.validSince === undefined ? {} : { validSince: String(update.validSince) }) };
  const response = await fetch(`${emulatorApi()}/projects/${PROJECT_ID}/accounts:update`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer owner' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`accounts:update: HTTP ${response.status} ${await response.text()}`);
}

/** Signs an existing emulator user in again: a fresh ID token with a new auth_time. */
export async function emulatorSignIn(email: string): Promise<{ uid: string; idToken: string }> {
  const response = await fetch(`${emulatorApi()}/accounts:signInWithPassword?key=fake-api-key`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: 'password-123', returnSecureToken: true }),
  });
  if (!response.ok) throw new Error(`signIn: HTTP ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { localId: string; idToken: string };
  return { uid: body.localId, idToken: body.idToken };
}

/** Creates an Identity Platform tenant in the emulator and returns its id. */
export async function emulatorCreateTenant(displayName: string): Promise<string> {
  const response = await fetch(`http://${emulatorHost()}/identitytoolkit.googleapis.com/v2/projects/${PROJECT_ID}/tenants`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer owner' },
    body: JSON.stringify({ displayName, allowPasswordSignup: true }),
  });
  if (!response.ok) throw new Error(`create tenant: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { tenantId: string }).tenantId;
}

// --- a service account whose public key the Google stand-in knows ---

export async function makeServiceAccount(scenario: Scenario): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const clientEmail = `reconciler@${PROJECT_ID}.iam.gserviceaccount.com`;
  await scenario.setGoogleAdmin({ publicJwk: await exportJWK(publicKey), clientEmail });
  return JSON.stringify({
    type: 'service_account',
    project_id: PROJECT_ID,
    private_key_id: 'test-key-1',
    private_key: await exportPKCS8(privateKey),
    client_email: clientEmail,
    token_uri: `${scenario.base}/oauth/token`,
  });
}

/** Bindings for the production path: service account + Identity Toolkit stand-in, with the shared registry. */
export async function productionEnv(scenario: Scenario, overrides: Partial<Env> = {}): Promise<Env> {
  return scenario.env({
    DB,
    GOOGLE_SERVICE_ACCOUNT: await makeServiceAccount(scenario),
    FIREBASE_IDENTITY_TOOLKIT_URL: `${scenario.base}/identitytoolkit`,
    RECONCILE_DELETE_INTERVAL_MS: '0',
    ...overrides,
  });
}

/** D1 whose every statement fails, as when storage is unavailable (replicas included). */
const failing = { prepare: () => ({ bind: () => ({ run: failingStatement, first: failingStatement, all: failingStatement }) }) };
export const brokenDb = { ...failing, withSession: () => failing } as unknown as D1Database;

/** The registry as the token routes use it (src/index.ts builds the same three). */
export function tokenRegistry(db: D1Database = DB, now: () => number = Date.now, queue?: Queue<RegisterMessage>) {
  const store = new UserRegistry(db, now);
  return { store, near: new NearRegistry(store, now), writeBehind: new RegistryWriteBehind({ registry: store, now, queue }) };
}
function failingStatement(): Promise<never> {
  return Promise.reject(new Error('D1_ERROR: storage unavailable'));
}

/**
 * The test database behind a switch (`down`: every statement fails, replicas
 * included, as in a D1 outage), counting statements by where they went:
 * `primary` (env.DB.prepare) and `replica` (through a session).
 */
export function switchableDb(db: D1Database = DB) {
  const state = { down: false, primary: 0, replica: 0 };
  const fail = () => Promise.reject(new Error('D1_ERROR: simulated outage'));
  const wrap = (statement: D1PreparedStatement, where: 'primary' | 'replica'): D1PreparedStatement =>
    ({
      bind: (...values: unknown[]) => wrap(statement.bind(...values), where),
      all: () => (state[where]++, state.down ? fail() : statement.all()),
      run: () => (state[where]++, state.down ? fail() : statement.run()),
      first: (column?: string) => (state[where]++, state.down ? fail() : statement.first(column as string)),
      raw: () => (state[where]++, state.down ? fail() : statement.raw()),
    }) as unknown as D1PreparedStatement;
  const wrapped = {
    prepare: (query: string) => wrap(db.prepare(query), 'primary'),
    batch: (statements: D1PreparedStatement[]) => (state.down ? fail() : db.batch(statements)),
    withSession: (constraint?: string) => {
      const session = db.withSession(constraint as D1SessionConstraint);
      return {
        prepare: (query: string) => wrap(session.prepare(query), 'replica'),
        batch: session.batch.bind(session),
        getBookmark: () => session.getBookmark(),
      };
    },
  } as unknown as D1Database;
  return { db: wrapped, state };
}
