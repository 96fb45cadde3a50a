import type { TestProject } from 'vitest/node';
import { startAuthEmulator } from '../../scripts/lib/auth-emulator.mjs';
import { startFixtureServer } from './fixture-server';

/** The project id the tests' ID tokens carry (a `demo-` project: the emulator needs no login). */
export const TEST_PROJECT_ID = 'demo-test-project';

/** Starts the local stand-ins and the Firebase Auth emulator once for the whole run (in Node, outside workerd). */
export default async function setup(project: TestProject) {
  const [{ origin, server }, emulator] = await Promise.all([startFixtureServer(), startAuthEmulator(TEST_PROJECT_ID)]);
  project.provide('fixtureOrigin', origin);
  project.provide('authEmulatorHost', emulator.host);
  return async () => {
    server.closeAllConnections();
    await Promise.all([new Promise((resolve) => server.close(resolve)), emulator.stop()]);
  };
}
