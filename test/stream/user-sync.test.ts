import { describe, expect, it } from 'vitest';
import { StreamApiError } from '../../src/stream/errors';
import type { StreamUserField } from '../../src/stream/profile';
import { StreamRestClient } from '../../src/stream/rest-client';
import { StreamTokenSigner } from '../../src/stream/tokens';
import { syncStreamUser } from '../../src/stream/user-sync';
import { Scenario, STREAM_API_KEY } from '../support/fixtures';

const OWNED = new Set<StreamUserField>(['name', 'image']);

async function setup() {
  const scenario = await Scenario.create();
  const client = new StreamRestClient({
    baseUrl: scenario.streamBaseUrl,
    apiKey: STREAM_API_KEY,
    signer: new StreamTokenSigner(scenario.streamSecret),
    maxAttempts: 1,
  });
  return { scenario, client };
}

const userIn = async (scenario: Scenario, id: string) => (await scenario.streamUsers()).users.find((user) => user.id === id);

describe('syncStreamUser', () => {
  it('updates an existing user with a partial update, keeping role, teams and custom data', async () => {
    const { scenario, client } = await setup();
    await scenario.seedStreamUsers([{ id: 'ada', name: 'Old', image: 'https://old', role: 'moderator', teams: ['red'], favourite: 'tea' }]);
    expect(await syncStreamUser(client, 'ada', { name: 'Ada' }, OWNED)).toBe('updated');
    expect(await userIn(scenario, 'ada')).toMatchObject({ name: 'Ada', role: 'moderator', teams: ['red'], favourite: 'tea' });
    // The photo claim is gone, so the field we own is cleared.
    expect((await userIn(scenario, 'ada'))?.image).toBeUndefined();
    expect((await scenario.streamRequests()).map((r) => r.method)).toEqual(['PATCH']);
  });

  it('creates a missing user only after Stream says it is missing and a query confirms it', async () => {
    const { scenario, client } = await setup();
    expect(await syncStreamUser(client, 'newbie', { name: 'New' }, OWNED)).toBe('created');
    expect(await userIn(scenario, 'newbie')).toMatchObject({ id: 'newbie', name: 'New' });
    expect((await scenario.streamRequests()).map((r) => `${r.method} ${r.path}`)).toEqual(['PATCH /users', 'GET /users', 'POST /users']);
  });

  it('never replaces a user that exists when the update failed for another reason', async () => {
    const { scenario, client } = await setup();
    await scenario.seedStreamUsers([{ id: 'ada', name: 'Ada', role: 'admin' }]);
    await scenario.scriptStream([{ method: 'PATCH', status: 400, body: { code: 4, message: 'bad input' } }]);
    await expect(syncStreamUser(client, 'ada', { name: 'Ada L' }, OWNED)).rejects.toBeInstanceOf(StreamApiError);
    expect(await userIn(scenario, 'ada')).toMatchObject({ name: 'Ada', role: 'admin' });
    expect((await scenario.streamRequests()).some((r) => r.method === 'POST')).toBe(false);
  });

  it('never creates over a failure that is not "does not exist", even when the query finds nobody', async () => {
    const { scenario, client } = await setup();
    await scenario.scriptStream([{ method: 'PATCH', status: 400, body: { code: 4, message: 'invalid field' } }]);
    await expect(syncStreamUser(client, 'ghost', { name: 'Ghost' }, OWNED)).rejects.toBeInstanceOf(StreamApiError);
    expect((await scenario.streamRequests()).map((r) => r.method)).toEqual(['PATCH']);
  });

  it('never replaces a deactivated user: the existence query includes deactivated users', async () => {
    const { scenario, client } = await setup();
    await scenario.seedStreamUsers([{ id: 'sleeper', name: 'Old', role: 'moderator', deactivated_at: '2026-01-01T00:00:00Z' }]);
    await scenario.scriptStream([{ method: 'PATCH', status: 404, body: { code: 16, message: 'user sleeper does not exist' } }]);
    await expect(syncStreamUser(client, 'sleeper', { name: 'New' }, OWNED)).rejects.toBeInstanceOf(StreamApiError);
    const query = (await scenario.streamRequests()).find((r) => r.method === 'GET');
    expect(JSON.parse(query!.query.payload!)).toMatchObject({ include_deactivated_users: true });
    expect(await userIn(scenario, 'sleeper')).toMatchObject({ name: 'Old', role: 'moderator' });
    expect((await scenario.streamRequests()).some((r) => r.method === 'POST')).toBe(false);
  });

  it('creates the user when Stream answers a 400 that says it does not exist', async () => {
    const { scenario, client } = await setup();
    await scenario.scriptStream([{ method: 'PATCH', status: 400, body: { code: 4, message: 'user "newbie" does not exist' } }]);
    expect(await syncStreamUser(client, 'newbie', { name: 'New' }, OWNED)).toBe('created');
  });
});
