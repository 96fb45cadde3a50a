import type { TestProject } from 'vitest/node';
import { startFixtureServer } from './fixture-server';

/** Starts the local stand-ins once for the whole run (in Node, outside workerd). */
export default async function setup(project: TestProject) {
  const { origin, server } = await startFixtureServer();
  project.provide('fixtureOrigin', origin);
  return async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
}
