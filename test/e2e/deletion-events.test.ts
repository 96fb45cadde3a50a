/**
 * Deletion at event speed, end to end on the local stack npm start runs:
 * an account deleted in the Auth emulator → the Pub/Sub push stand-in sees
 * it and pushes a signed event → POST /v1/events/user-deleted asks the
 * emulator, deletes the Stream user. No cron run is involved.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/process.mjs';
import { startLocal, type LocalStack } from '../../scripts/start.mjs';

let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'events-e2e-'));
  stack = await startLocal({ workerPort: await freePort(), emulatorPort: await freePort(), persistTo: dir, log: () => {} });
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function signUp(email: string): Promise<{ uid: string; idToken: string }> {
  const response = await fetch(`http://${stack.emulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=local`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: 'password-123', returnSecureToken: true }),
  });
  const body = (await response.json()) as { localId: string; idToken: string };
  return { uid: body.localId, idToken: body.idToken };
}

async function createStreamUser(idToken: string): Promise<void> {
  const response = await fetch(`${stack.workerUrl}/v1/users/me`, { method: 'POST', headers: { Authorization: `Bearer ${idToken}` } });
  expect(response.status).toBe(200);
}

it('an account deleted in Firebase is gone from Stream within 5 s of the deletion, by the pushed event alone', async () => {
  const standIn = stack.stream!.standIn;
  const pubsub = stack.pubsub!;
  expect(pubsub).toBeTruthy();
  const [person, witness] = [await signUp(`gone-${Date.now()}@example.com`), await signUp(`stays-${Date.now()}@example.com`)];
  await createStreamUser(person.idToken);
  await createStreamUser(witness.idToken); // someone Firebase still has: the brake's witness
  expect(standIn.users.has(person.uid)).toBe(true);

  const pushed = pubsub.delivered(person.uid);
  const started = performance.now();
  const deleted = await fetch(
    `http://${stack.emulatorHost}/identitytoolkit.googleapis.com/v1/projects/${stack.projectId}/accounts:delete`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer owner' },
      body: JSON.stringify({ localId: person.uid }),
    },
  );
  expect(deleted.status).toBe(200);
  while (!standIn.deleted.has(person.uid) && performance.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
  const elapsed = Math.round(performance.now() - started);
  console.info(`deleted in Firebase → gone from Stream in ${elapsed} ms`);
  expect(standIn.deleted.has(person.uid), `not deleted from Stream within 5 s`).toBe(true);
  expect(elapsed).toBeLessThan(5_000);

  const delivery = await pushed;
  expect(delivery.status).toBe(200);
  expect(JSON.parse(delivery.body)).toEqual({ acknowledged: true, results: { [person.uid]: 'deleted' } });
  expect(standIn.deleted.has(witness.uid)).toBe(false);

  // Pub/Sub delivers at least once: the same event again is acknowledged and sends Stream nothing.
  const deletesBefore = standIn.requests.filter((r: { path: string }) => r.path === '/users/delete').length;
  const again = await pubsub.publish({ uid: person.uid });
  expect(again.status).toBe(200);
  expect(standIn.requests.filter((r: { path: string }) => r.path === '/users/delete').length).toBe(deletesBefore);
});

it('a push signed by anyone else is refused with 401 and deletes nothing', async () => {
  const standIn = stack.stream!.standIn;
  const person = await signUp(`forged-${Date.now()}@example.com`);
  await createStreamUser(person.idToken);
  const response = await fetch(`${stack.workerUrl}/v1/events/user-deleted`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: 'Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.eyJpc3MiOiJhY2NvdW50cy5nb29nbGUuY29tIn0.c2ln',
    },
    body: JSON.stringify({ message: { data: Buffer.from(JSON.stringify({ uid: person.uid })).toString('base64') } }),
  });
  expect(response.status).toBe(401);
  expect(standIn.deleted.has(person.uid)).toBe(false);
});
