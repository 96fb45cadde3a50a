/**
 * The promises of docs/promises.md, checked after every command of the simulation
 * (and "never stuck" at the end of each sequence, in `settle`). Each is
 * checked against what the outside world saw (Stream's users and deletes,
 * Firebase's accounts, the answers), not against the Worker's bookkeeping.
 */
import { accountKey, STREAM_SECRET } from './stand-ins';
import { count, type World } from './world';

/** Log lines written since the last check (the simulation captures the console). */
export const logLines: string[] = [];
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./;

export async function checkInvariants(world: World, label: string): Promise<void> {
  // Never wrong: no Stream user whose Firebase account exists (in the tenant its uid is bound to) is sent to a delete.
  if (world.stream.deletesToCheck.length > 0) {
    count(`stream deletes (uids)`);
    const registry = await world.registry();
    for (const uid of world.stream.deletesToCheck) {
      const row = registry.get(uid);
      if (!row) world.violations.push(`${uid} was sent to Stream's delete but is not in the registry`);
      else if (world.firebase.get(row.tenant, uid)) {
        world.violations.push(`${uid} was sent to Stream's delete while its Firebase account exists (tenant ${row.tenant || '(project)'})`);
      }
    }
    world.stream.deletesToCheck = [];
  }
  // Nothing lost: Stream saw no write that replaces a user or touches a field this service does not own.
  world.violations.push(...world.stream.violations.splice(0));
  // Revoke is effective: Stream refuses every token of the user issued before a revoke that was answered.
  for (const revoke of world.revokes) {
    for (const issued of world.issued) {
      if (issued.uid !== revoke.uid || issued.issuedAt > revoke.startedAt) continue;
      if ((await world.stream.check(issued.token)) === 'ok') {
        world.violations.push(`a token of ${revoke.uid} issued before a revoke that was answered still connects`);
      }
    }
  }
  // Nothing leaks: no log line carries the Stream secret or a token.
  for (const line of logLines.splice(0)) {
    if (line.includes(STREAM_SECRET) || JWT.test(line))
      world.violations.push(`a log line carries a secret or a token: ${line.slice(0, 120)}`);
  }
  if (world.violations.length > 0) {
    throw new Error(
      `broken promise after ${label}:\n  ${[...new Set(world.violations)].join('\n  ')}\ncommands:\n  ${world.trace.join('\n  ')}`,
    );
  }
}

/**
 * Never stuck: once the configuration is right and nothing fails, every
 * registered user whose account is gone is deleted from Stream within K cron
 * runs (15 minutes apart, after any backoff is due), K = 2·⌈N/(B·M)⌉ + ⌈G/D⌉ + 2
 * with N registered active uids, B uids a lookup, M lookups a run, G gone
 * uids and D deletes a run; provided Firebase sees someone the registry knows
 * in that tenant (the brake's witness; without one, a registry whose every
 * user looks gone is what a wrong project looks like, and it waits).
 * Answers the runs it took.
 */
export async function settle(world: World): Promise<number> {
  world.trace.push('settle()');
  world.reconfigure({
    ...world.config,
    project: 'right',
    access: world.config.access === 'emulator' ? 'emulator' : 'service-account',
    dryRun: false,
  });
  world.stream.fault = 'none';
  world.stream.taskMode = 'complete';
  world.google.fault = 'none';
  world.firebase.lookupFault = 'none';
  world.storageDown = false;
  world.replicaLag = undefined;
  world.advance(25 * 3_600_000); // every backoff (at most a day) is due, every stale claim released

  const rows = [...(await world.registry()).values()];
  const active = rows.filter((row) => row.state === 'active').length;
  const gone = rows.filter((row) => row.state !== 'deleted' && !world.firebase.get(row.tenant, row.uid)).length;
  const { batchSize, maxBatches, maxDeletes } = world.config;
  const k = 2 * Math.ceil(active / (batchSize * maxBatches)) + Math.ceil(gone / maxDeletes) + 2;
  let runs = 0;
  for (; runs <= k; runs++) {
    const stuck = await stuckUids(world);
    if (stuck.length === 0) break;
    if (runs === k) {
      world.violations.push(
        `never stuck: after ${k} cron runs ${stuck.join(', ')} are still not deleted (config ${JSON.stringify(world.config)})`,
      );
      break;
    }
    await world.cron();
    for (let guard = 0; world.queued.length > 0 && guard < 50; guard++) await world.deliver('all');
    world.advance(15 * 60_000);
  }
  await checkInvariants(world, 'settle()');
  count(`settle: ${runs} cron runs`);
  return runs;
}

/** Registered uids whose account is gone, with a witness in their tenant, and still in Stream or not recorded deleted. */
async function stuckUids(world: World): Promise<string[]> {
  const rows = [...(await world.registry()).values()];
  const witnessed = new Set(
    rows.filter((row) => row.state === 'active' && world.firebase.get(row.tenant, row.uid)).map((row) => row.tenant),
  );
  return rows
    .filter((row) => !world.firebase.accounts.has(accountKey(row.tenant, row.uid)) && witnessed.has(row.tenant))
    .filter((row) => row.state !== 'deleted' || world.stream.users.has(row.uid))
    .map((row) => `${row.tenant || '-'}/${row.uid} (${row.state}${world.stream.users.has(row.uid) ? ', in Stream' : ''})`);
}
