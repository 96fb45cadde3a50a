/**
 * The simulation's commands: what users, operators, Firebase, Stream and
 * Google do, in any order. Each runs against the World and then the
 * invariants are checked (test/sim/invariants.ts). Commands carry their
 * arguments only, so fast-check can print and shrink a failing sequence.
 */
import fc from 'fast-check';
import type { AsyncCommand } from 'fast-check';
import { checkInvariants } from './invariants';
import { accountKey, type GoogleFault, type LookupFault, type StreamFault, type TaskMode } from './stand-ins';
import { count, type SimConfig, type World } from './world';

export const UIDS = ['u0', 'u1', 'u2', 'u3', 'u4'];
export const TENANTS = ['', 'blue', 'green'];

type Model = Record<string, never>;
type Command = AsyncCommand<Model, World, false>;

const ROUTES = {
  'rest-create': { path: '/v1/users/me', callable: false, kind: 'token' },
  'callable-create': { path: '/createStreamUserAndGetToken', callable: true, kind: 'token' },
  'rest-token': { path: '/v1/token', callable: false, kind: 'token' },
  'callable-token': { path: '/getStreamUserToken', callable: true, kind: 'token' },
  'ext-token': { path: '/ext-auth-chat-getStreamUserToken', callable: true, kind: 'token' },
  'rest-revoke': { path: '/v1/token/revoke', callable: false, kind: 'revoke' },
  'callable-revoke': { path: '/revokeStreamUserToken', callable: true, kind: 'revoke' },
  'ext-revoke': { path: '/ext-auth-chat-revokeStreamUserToken', callable: true, kind: 'revoke' },
  'rest-delete': { path: '/v1/users/me/delete', callable: false, kind: 'delete' },
  'callable-delete': { path: '/deleteStreamUser', callable: true, kind: 'delete' },
} as const;
type RouteName = keyof typeof ROUTES;

/** A command is its label, what it does, and the invariants after it. */
function command(label: string, act: (world: World) => Promise<void>): Command {
  return {
    check: () => true,
    run: async (_model, world) => {
      world.trace.push(label);
      await act(world);
      await checkInvariants(world, label);
    },
    toString: () => label,
  };
}

/** A signed-in user calls a route; what it answers feeds the invariants. */
async function callRoute(world: World, route: RouteName, tenant: string, uid: string, alone = true): Promise<void> {
  const idToken = await world.idToken(tenant, uid);
  if (idToken === undefined) return; // no account and no token left: nobody to call with
  const { path, callable, kind } = ROUTES[route];
  const healthy = world.healthy;
  const startedAt = world.now;
  const strays: string[] = [];
  // Stream writes are attributed to the caller only when its request is the only one in flight.
  if (alone) {
    world.stream.onUserWrite = (written) => {
      if (written === uid) world.served(uid, tenant);
      else strays.push(written);
    };
  }
  let answer;
  try {
    answer = await world.call(path, { idToken, callable });
  } finally {
    if (alone) world.stream.onUserWrite = () => {};
  }
  for (const other of strays) world.violations.push(`a request of ${uid} wrote Stream user ${other}`);
  const ok = answer.status === 200 || answer.status === 202;
  if (kind === 'token' && ok) {
    const token = callable ? (answer.body.result as string) : (answer.body.token as string);
    world.issued.push({ uid, tenant, token, issuedAt: startedAt });
    world.served(uid, tenant);
  }
  if (kind === 'revoke') {
    world.lastRevokeEnded.set(uid, world.now);
    if (ok) world.revokes.push({ uid, startedAt });
  }
  // Healthy: no fault on, the configuration right, long enough after the last fault. Then a Stream or
  // storage failure answer (409, 5xx) is a broken promise, whatever the route.
  if (healthy && (answer.status === 409 || answer.status >= 500)) {
    world.violations.push(
      `${route} for ${tenant || '(project)'}/${uid} answered ${answer.status} ${JSON.stringify(answer.body)} while everything was healthy`,
    );
  }
}

/**
 * A deletion event pushed; what the invariants ask of its answer: never a
 * failure while healthy, and a user it reports deleted is gone from Stream
 * (sent to Stream's delete only while its account is gone: checkInvariants).
 * A redelivery of an event already handled sends no second delete.
 */
async function pushEvent(world: World, event: { uid: string; tenant: string }): Promise<void> {
  const healthy = world.healthy;
  const before = (await world.registry()).get(event.uid);
  const deletesBefore = world.stream.deletesToCheck.length;
  const answer = await world.pushDeletionEvent(event);
  if (healthy && answer.status >= 500) {
    world.violations.push(
      `deletion event for ${event.tenant || '(project)'}/${event.uid} answered ${answer.status} ${JSON.stringify(answer.body)} while everything was healthy`,
    );
  }
  const outcome = (answer.body.results as Record<string, string> | undefined)?.[event.uid];
  if (answer.status === 200 && outcome === 'deleted' && world.stream.users.has(event.uid)) {
    world.violations.push(`deletion event for ${event.uid} answered deleted, but Stream still has the user`);
  }
  const sentAgain = world.stream.deletesToCheck.slice(deletesBefore).includes(event.uid);
  if (before?.state === 'deleted' && sentAgain)
    world.violations.push(`a redelivered deletion event sent ${event.uid}, already deleted, to Stream's delete again`);
  // At event speed: healthy, right configuration, registered in that tenant, gone, a witness seen: deleted in the request.
  if (
    healthy &&
    !world.config.dryRun &&
    before?.state === 'active' &&
    before.tenant === event.tenant &&
    !world.firebase.get(event.tenant, event.uid)
  ) {
    const witnessed = [...(await world.registry()).values()].some(
      (row) => row.uid !== event.uid && row.tenant === event.tenant && row.state === 'active' && world.firebase.get(row.tenant, row.uid),
    );
    if (witnessed && outcome !== 'deleted' && outcome !== 'deleting' && outcome !== 'unconfirmed') {
      world.violations.push(
        `deletion event for ${event.tenant || '(project)'}/${event.uid} (registered, gone, healthy) answered ${answer.status} ${JSON.stringify(answer.body)}`,
      );
    }
  }
  count(`deletion event ${answer.status} ${outcome ?? ''}`.trim());
}

const uid = fc.constantFrom(...UIDS);
const tenant = fc.constantFrom(...TENANTS);
const routeName = fc.constantFrom(...(Object.keys(ROUTES) as RouteName[]));

export const commandArbitraries: fc.Arbitrary<Command>[] = [
  // Firebase accounts
  fc
    .record({ tenant, uid, name: fc.constantFrom('Ada', 'Bo', undefined) })
    .map(({ tenant, uid, name }) =>
      command(`signUp(${tenant || '-'}/${uid}${name ? `, ${name}` : ''})`, async (world) =>
        world.signUp(tenant, uid, name ? { name } : {}),
      ),
    ),
  fc.record({ tenant, uids: fc.uniqueArray(uid, { minLength: 1, maxLength: 3 }) }).map(({ tenant, uids }) =>
    command(`deleteAccounts(${tenant || '-'}/${uids.join(',')})`, async (world) => {
      for (const uid of uids) world.firebase.accounts.delete(accountKey(tenant, uid));
    }),
  ),
  fc.record({ tenant, uid, disabled: fc.boolean() }).map(({ tenant, uid, disabled }) =>
    command(`${disabled ? 'disable' : 'enable'}(${tenant || '-'}/${uid})`, async (world) => {
      const account = world.firebase.get(tenant, uid);
      if (account) account.disabled = disabled;
    }),
  ),
  fc
    .record({
      tenant,
      uid,
      field: fc.constantFrom('name', 'picture', 'role', 'teams'),
      value: fc.constantFrom('A', 'B', 'moderator', 'admin', undefined),
    })
    .map(({ tenant, uid, field, value }) =>
      command(`change(${tenant || '-'}/${uid}, ${field}=${value})`, async (world) => {
        const account = world.firebase.get(tenant, uid);
        if (!account) return;
        if (field === 'teams') account.teams = value === undefined ? undefined : [value];
        else account[field] = field === 'picture' && value ? `https://img.sim/${value}.png` : value;
        account.version++;
      }),
    ),
  // Users of the app, on both protocols
  fc
    .record({ route: routeName, tenant, uid })
    .map(({ route, tenant, uid }) => command(`call(${route}, ${tenant || '-'}/${uid})`, (world) => callRoute(world, route, tenant, uid))),
  fc.record({ route: routeName, uid, tenants: fc.uniqueArray(tenant, { minLength: 2, maxLength: 2 }) }).map(({ route, uid, tenants }) =>
    command(`race(${route}, ${uid}, ${tenants.map((t) => t || '-').join(' vs ')})`, async (world) => {
      for (const t of tenants) world.signUp(t, uid);
      await Promise.all(tenants.map((t) => callRoute(world, route, t, uid, false)));
    }),
  ),
  fc.nat().map((pick) =>
    command(`connect(token #${pick})`, async (world) => {
      if (world.issued.length === 0) return;
      const issued = world.issued[pick % world.issued.length]!;
      const verdict = await world.stream.connect(issued.token, issued.uid);
      count(`connect ${verdict}`);
      const lastRevoke = world.lastRevokeEnded.get(issued.uid);
      if (verdict === 'revoked' && (lastRevoke === undefined || issued.issuedAt > lastRevoke)) {
        world.violations.push(`a token of ${issued.uid} issued after every revoke was refused as revoked`);
      }
    }),
  ),
  // The app's own backend, writing to Stream directly
  fc.record({ uid, what: fc.constantFrom('custom', 'role', 'deactivate', 'deactivate', 'reactivate') }).map(({ uid, what }) =>
    command(`streamDashboard(${uid}, ${what})`, async (world) => {
      const user = world.stream.users.get(uid);
      if (!user) return;
      if (what === 'custom') user.favourite_colour = 'teal';
      if (what === 'role') user.role = 'moderator';
      if (what === 'deactivate') user.deactivated_at = new Date(world.now).toISOString();
      if (what === 'reactivate') delete user.deactivated_at;
    }),
  ),
  // Operators
  fc
    .uniqueArray(uid, { minLength: 1, maxLength: 3 })
    .map((uids) =>
      command(
        `adminDelete(${uids.join(',')})`,
        async (world) => void (await world.call('/v1/admin/users/delete', { admin: true, body: { uids } })),
      ),
    ),
  fc.record({ tenant, uids: fc.uniqueArray(uid, { minLength: 1, maxLength: 3 }) }).map(({ tenant, uids }) =>
    command(`adminImport(${tenant || '-'}: ${uids.join(',')})`, async (world) => {
      // Honest imports only: uids that are, or were, accounts of that tenant (docs/migrating.md: "Only import Firebase uids").
      const honest = uids.filter((u) => world.everCreated.has(accountKey(tenant, u)));
      if (honest.length > 0)
        await world.call('/v1/admin/registry/import', { admin: true, body: tenant ? { uids: honest, tenant } : { uids: honest } });
    }),
  ),
  fc.constant(command('cron()', (world) => world.cron())),
  // An account deleted in Firebase (console, Admin SDK) and its deletion event: delivered, lost, delivered twice, or held for later
  // (`existing #n`: the n-th account Firebase has, so most events are about someone; else the given tenant/uid)
  fc
    .record({
      tenant,
      uid,
      pick: fc.option(fc.nat(), { nil: undefined }),
      delivery: fc.constantFrom('delivered', 'lost', 'twice', 'later'),
    })
    .map(({ tenant, uid, pick, delivery }) =>
      command(
        `deleteAccountWithEvent(${pick === undefined ? `${tenant || '-'}/${uid}` : `existing #${pick}`}, ${delivery})`,
        async (world) => {
          const accounts = [...world.firebase.accounts.values()];
          const chosen = pick !== undefined && accounts.length > 0 ? accounts[pick % accounts.length]! : { uid, tenant };
          world.firebase.accounts.delete(accountKey(chosen.tenant, chosen.uid));
          const event = { uid: chosen.uid, tenant: chosen.tenant };
          if (delivery === 'lost') return;
          if (delivery === 'later') return void world.pendingEvents.push(event);
          await pushEvent(world, event);
          if (delivery === 'twice') await pushEvent(world, event);
        },
      ),
    ),
  // Pub/Sub delivering a held event (out of order: the oldest or the newest), e.g. after the uid signed up again
  fc.constantFrom('oldest', 'newest').map((which) =>
    command(`deliverEvent(${which})`, async (world) => {
      if (world.pendingEvents.length === 0) return;
      const event = which === 'oldest' ? world.pendingEvents.shift()! : world.pendingEvents.pop()!;
      await pushEvent(world, event);
    }),
  ),
  fc
    .constantFrom('all', 'first', 'reverse', 'redeliver')
    .map((mode) => command(`deliverQueue(${mode})`, (world) => world.deliver(mode as 'all' | 'first' | 'reverse' | 'redeliver'))),
  // Faults
  fc.constantFrom<StreamFault>('none', 'none', 'error500', 'rate-limited', 'timeout').map((fault) =>
    command(`streamFault(${fault})`, async (world) => {
      world.stream.fault = fault;
      world.faultSwitched(fault !== 'none');
    }),
  ),
  fc.record({ refuse: fc.boolean(), partial: fc.constantFrom<'404' | 'silent'>('404', 'silent') }).map(({ refuse, partial }) =>
    command(`streamBehaviour(deleteRefusesUnknown=${refuse}, partialUnknown=${partial})`, async (world) => {
      world.stream.deleteRefusesUnknown = refuse;
      world.stream.partialUnknown = partial;
    }),
  ),
  fc.constantFrom<TaskMode>('complete', 'complete', 'pending', 'fail-some', 'failed').map((mode) =>
    command(`streamTasks(${mode})`, async (world) => {
      world.stream.taskMode = mode;
      world.faultSwitched(mode === 'fail-some' || mode === 'failed');
    }),
  ),
  fc.constantFrom<GoogleFault>('none', 'none', 'down', 'hang').map((fault) =>
    command(`googleKeys(${fault})`, async (world) => {
      world.google.fault = fault;
      world.faultSwitched(fault !== 'none');
    }),
  ),
  fc.constantFrom('publish', 'switch', 'retire').map((step) =>
    command(`rotateKeys(${step})`, async (world) => {
      const google = world.google;
      if (step === 'publish' && google.published.length < world.keys.google.length) {
        const next = world.keys.google.find((key) => !google.published.includes(key));
        if (next) google.published.push(next);
      }
      if (step === 'switch') google.signing = google.published.length - 1; // Google signs with a key published earlier
      if (step === 'retire' && google.published.length > 1 && google.signing > 0) {
        google.published.shift();
        google.signing--;
      }
    }),
  ),
  fc.constantFrom<LookupFault>('none', 'none', 'error500', 'hang', 'garbage').map((fault) =>
    command(`firebaseLookups(${fault})`, async (world) => {
      world.firebase.lookupFault = fault;
      world.faultSwitched(fault !== 'none');
    }),
  ),
  fc.boolean().map((down) =>
    command(`storage(${down ? 'down' : 'up'})`, async (world) => {
      world.storageDown = down;
      world.faultSwitched(down);
    }),
  ),
  // D1's read replica lags (not a fault: replicas are asynchronous) or catches up.
  fc.boolean().map((lagging) =>
    command(`replica(${lagging ? 'lagging' : 'caught-up'})`, async (world) => {
      if (lagging) await world.startReplicaLag();
      else world.replicaLag = undefined;
    }),
  ),
  // Deployments: a configuration change is a new deployment
  fc
    .oneof(
      fc.record({ project: fc.constantFrom<SimConfig['project']>('right', 'wrong') }),
      fc.record({ access: fc.constantFrom<SimConfig['access']>('service-account', 'emulator', 'wrong-credentials') }),
      fc.record({ tenants: fc.subarray(['blue', 'green']) }),
      fc.record({ dryRun: fc.boolean() }),
      fc.record({ deleteMode: fc.constantFrom<SimConfig['deleteMode']>('soft', 'pruning', 'hard,messages,channels') }),
      fc.record({ queue: fc.boolean() }),
      fc.record({ roleClaim: fc.boolean(), teamsClaim: fc.boolean() }),
      fc.record({ checkRevoked: fc.boolean() }),
      fc.record({
        batchSize: fc.integer({ min: 1, max: 5 }),
        maxBatches: fc.integer({ min: 1, max: 3 }),
        maxDeletes: fc.integer({ min: 1, max: 6 }),
      }),
    )
    .map((change: Partial<SimConfig>) =>
      command(`deploy(${JSON.stringify(change)})`, async (world) => {
        const before = world.config;
        world.reconfigure({ ...before, ...change });
        if (world.config.project !== before.project || world.config.access !== before.access) world.faultSwitched(false);
      }),
    ),
  fc
    .constantFrom(1_000, 30_000, 15 * 60_000, 3_600_000, 25 * 3_600_000)
    .map((ms) => command(`advance(${ms / 1000} s)`, async (world) => world.advance(ms))),
];

/** Weighted: users act most, then operators, faults and deployments. */
export function commandSequence(minLength: number): fc.Arbitrary<Command[]> {
  const [
    signUp,
    del,
    disable,
    change,
    call,
    race,
    connect,
    dashboard,
    adminDelete,
    adminImport,
    cron,
    eventDelete,
    deliverEvent,
    deliver,
    ...rest
  ] = commandArbitraries;
  // First: shrinking moves towards the first arbitrary, so a failing sequence shrinks by turning commands into no-ops.
  const idle = fc.constant<Command>({ check: () => true, run: async () => {}, toString: () => '-' });
  const weighted = fc.oneof(
    { withCrossShrink: true },
    { arbitrary: idle, weight: 1 },
    { arbitrary: signUp!, weight: 6 },
    { arbitrary: del!, weight: 5 },
    { arbitrary: disable!, weight: 1 },
    { arbitrary: change!, weight: 2 },
    { arbitrary: call!, weight: 14 },
    { arbitrary: race!, weight: 2 },
    { arbitrary: connect!, weight: 4 },
    { arbitrary: dashboard!, weight: 4 },
    { arbitrary: adminDelete!, weight: 1 },
    { arbitrary: adminImport!, weight: 2 },
    { arbitrary: cron!, weight: 7 },
    { arbitrary: eventDelete!, weight: 4 },
    { arbitrary: deliverEvent!, weight: 2 },
    { arbitrary: deliver!, weight: 2 },
    ...rest.map((arbitrary) => ({ arbitrary: arbitrary!, weight: 1 })),
  );
  return fc.array(weighted, { minLength, maxLength: minLength + 10 });
}
