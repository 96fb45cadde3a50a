/**
 * Against the real Firebase Auth emulator: Identity Platform tenants, and the
 * self-service delete (`POST /v1/users/me/delete`, callable `deleteStreamUser`).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { callable, callWorker, Scenario } from '../support/fixtures';
import {
  clearRegistry,
  DB,
  emulatorCreateTenant,
  emulatorDeleteUser,
  emulatorHost,
  emulatorSignUp,
  registryRows,
  runCron,
  streamDeletes,
} from '../support/reconcile';
import { expectLogged } from '../support/console';

beforeEach(clearRegistry);

const email = (name: string) => `${name}-${crypto.randomUUID()}@example.com`;

async function emulatorEnv(scenario: Scenario, tenants: string[] = []) {
  await scenario.setGoogle({ keys: [] });
  return scenario.env({
    DB,
    FIREBASE_AUTH_EMULATOR_HOST: emulatorHost(),
    FIREBASE_TENANT_IDS: tenants.join(','),
    RECONCILE_DELETE_INTERVAL_MS: '0',
    RECONCILE_TASK_WAIT_MS: '2000',
  });
}

const deleteMe = (env: Awaited<ReturnType<typeof emulatorEnv>>, idToken: string) => callWorker(env, '/v1/users/me/delete', { idToken });

describe('tenants (Identity Platform) on the Auth emulator', () => {
  it('a listed tenant is served, registered under its tenant, looked up in it, and never deleted while it exists', async () => {
    const tenant = await emulatorCreateTenant('Blue');
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario, [tenant]);
    const people = await Promise.all([1, 2, 3].map((n) => emulatorSignUp(email(`blue${n}`), tenant)));
    for (const person of people) expect((await callable(env, 'createStreamUserAndGetToken', person.idToken)).status).toBe(200);
    const rows = await registryRows();
    for (const person of people) expect(rows.get(person.uid)).toMatchObject({ tenant, state: 'active' });

    // A project-level lookup does not see tenant users: the cron must ask in the tenant.
    expect(await runCron(env)).toMatchObject({ checked: 3, present: 3, missing: 0, deleted: 0 });
    expect(await streamDeletes(scenario)).toEqual([]);

    await emulatorDeleteUser(people[0]!.uid, tenant);
    expect(await runCron(env)).toMatchObject({ checked: 3, present: 2, deleted: 1 });
    expect(await streamDeletes(scenario)).toEqual([people[0]!.uid]);
  });

  it('a tenant that is not listed is refused before any Stream call, on both protocols', async () => {
    const tenant = await emulatorCreateTenant('Red');
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario, ['some-other-tenant']);
    const person = await emulatorSignUp(email('red'), tenant);

    const viaCallable = await callable(env, 'createStreamUserAndGetToken', person.idToken);
    expect(viaCallable.status).toBe(403);
    expect(await viaCallable.json()).toEqual({ error: { status: 'PERMISSION_DENIED', message: expect.stringContaining('tenant') } });
    const viaRest = await callWorker(env, '/v1/token', { idToken: person.idToken });
    expect(viaRest.status).toBe(403);
    expect(viaRest.headers.get('Content-Type')).toBe('application/problem+json');
    expect(await viaRest.json()).toMatchObject({ code: 'tenant_not_allowed', status: 403 });
    expect(await scenario.streamRequests()).toEqual([]);
    expect((await registryRows()).size).toBe(0);

    // Without FIREBASE_TENANT_IDS only project-level users are served.
    const plain = await emulatorEnv(await Scenario.create());
    expect((await callWorker(plain, '/v1/token', { idToken: person.idToken })).status).toBe(403);
  });

  it('a uid registered under one tenant is never served to a token of another', async () => {
    const [blue, green] = [await emulatorCreateTenant('Blue2'), await emulatorCreateTenant('Green')];
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario, [blue, green]);
    const person = await emulatorSignUp(email('crossing'), green);
    // The same uid already belongs to a user of the other tenant.
    await DB.prepare('INSERT INTO stream_users (uid, tenant, first_seen_at) VALUES (?1, ?2, 0)').bind(person.uid, blue).run();
    for (const path of ['/v1/users/me', '/v1/token', '/v1/token/revoke', '/v1/users/me/delete']) {
      const response = await callWorker(env, path, { idToken: person.idToken });
      expect(response.status, path).toBe(403);
      expect(await response.json()).toMatchObject({ code: 'tenant_mismatch' });
    }
    expect(await scenario.streamRequests()).toEqual([]);
    expect((await registryRows()).get(person.uid)?.tenant).toBe(blue);
  });
});

describe('a wrong project on the Auth emulator', () => {
  it('deletes nothing: the lookups find nobody, and nobody known to exist either', async () => {
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario);
    const people = await Promise.all(Array.from({ length: 12 }, (_, n) => emulatorSignUp(email(`p${n}`))));
    for (const person of people) expect((await callWorker(env, '/v1/users/me', { idToken: person.idToken })).status).toBe(200);

    // Same registry, FIREBASE_PROJECT_ID pointing at another (empty) project: everyone "looks deleted".
    const wrong = { ...env, FIREBASE_PROJECT_ID: 'demo-some-other-project' };
    for (let run = 0; run < 2; run++) {
      const summary = await runCron(wrong);
      expect(summary).toMatchObject({ deleted: 0, missing: 0, braked: 12 });
    }
    expect(await streamDeletes(scenario)).toEqual([]);
    // The right project again: everyone is present, nothing was lost.
    expect(await runCron(env)).toMatchObject({ present: 12, deleted: 0 });
  });
});

describe('self-service delete on the Auth emulator', () => {
  it('deletes the Stream user in the request once the Firebase account is gone (REST)', async () => {
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario);
    const [leaving, staying] = [await emulatorSignUp(email('leaving')), await emulatorSignUp(email('staying'))];
    for (const person of [leaving, staying]) expect((await callWorker(env, '/v1/users/me', { idToken: person.idToken })).status).toBe(200);

    await emulatorDeleteUser(leaving.uid);
    const response = await deleteMe(env, leaving.idToken); // the token it still holds
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ deleted: true, completed: true });
    expect(await streamDeletes(scenario)).toEqual([leaving.uid]);
    expect((await scenario.streamUsers()).users.map((user) => user.id)).toEqual([staying.uid]);
    expect((await registryRows()).get(leaving.uid)).toMatchObject({ state: 'deleted', deleted_how: 'self:soft' });

    // Asking again is harmless.
    expect(await (await deleteMe(env, leaving.idToken)).json()).toEqual({ deleted: true, completed: true });
  });

  it('deletes nothing while the account exists, answers 202, and the next run checks the uid first', async () => {
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario);
    const person = await emulatorSignUp(email('changed-mind'));
    await callWorker(env, '/v1/users/me', { idToken: person.idToken });
    const staying = await emulatorSignUp(email('changed-mind-friend')); // the brake's witness, later
    await callWorker(env, '/v1/token', { idToken: staying.idToken });

    const response = await deleteMe(env, person.idToken);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ deleted: false, reason: 'firebase_account_exists' });
    expect(await streamDeletes(scenario)).toEqual([]);
    expect((await registryRows()).get(person.uid)).toMatchObject({ state: 'active', recheck: 1 });

    // Deleted later: the next run checks it before the sweep and deletes it.
    await emulatorDeleteUser(person.uid);
    expect(await runCron(env)).toMatchObject({ deleted: 1 });
    expect((await registryRows()).get(person.uid)).toMatchObject({ state: 'deleted', recheck: 0 });
  });

  it('callable deleteStreamUser answers in the callable format', async () => {
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario);
    const [leaving, staying] = [await emulatorSignUp(email('c-leaving')), await emulatorSignUp(email('c-staying'))];
    for (const person of [leaving, staying]) await callable(env, 'createStreamUserAndGetToken', person.idToken);
    await emulatorDeleteUser(leaving.uid);
    const response = await callable(env, 'deleteStreamUser', leaving.idToken);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: { deleted: true, completed: true } });
    const unknown = await emulatorSignUp(email('never-registered'));
    expect(await (await callable(env, 'deleteStreamUser', unknown.idToken)).json()).toEqual({
      result: { deleted: false, reason: 'not_registered' },
    });
  });

  it('with nobody else known to exist, it leaves the decision to the next run (the brake cannot be asked)', async () => {
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario);
    const only = await emulatorSignUp(email('only-user'));
    await callWorker(env, '/v1/users/me', { idToken: only.idToken });
    await emulatorDeleteUser(only.uid);
    const response = await deleteMe(env, only.idToken);
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ deleted: false, reason: 'unconfirmed' });
    expect(await streamDeletes(scenario)).toEqual([]);
    // The cron cannot confirm it either: a registry whose every user looks gone is what a wrong project
    // looks like, and a small registry must not be deleted whole under a wrong FIREBASE_PROJECT_ID.
    const held = await runCron(env); // the recheck batch and the sweep both hold it
    expect(held).toMatchObject({ deleted: 0, sent: 0 });
    expect(held.braked).toBeGreaterThan(0);
    expect(await streamDeletes(scenario)).toEqual([]);
    // Once Firebase sees someone the registry knows, the configuration is proven and the uid is deleted.
    const newcomer = await emulatorSignUp(email('newcomer'));
    await callWorker(env, '/v1/token', { idToken: newcomer.idToken });
    expect(await runCron(env)).toMatchObject({ deleted: 1 });
    expect(await streamDeletes(scenario)).toEqual([only.uid]);
    expectLogged('reconcile_brake');
  });

  it('answers 502 and deletes nothing when Firebase cannot answer', async () => {
    const scenario = await Scenario.create();
    const env = await emulatorEnv(scenario);
    const person = await emulatorSignUp(email('unlucky'));
    await callWorker(env, '/v1/users/me', { idToken: person.idToken });
    const broken = { ...env, FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9' }; // nothing listens there
    const response = await deleteMe(broken, person.idToken);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'firebase_failed' });
    expect(await streamDeletes(scenario)).toEqual([]);
    expectLogged('request_failed');
  });
});
