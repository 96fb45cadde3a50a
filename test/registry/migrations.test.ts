import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/registry/migrations';

it('the doctor knows every migration in migrations/, in order', () => {
  const onDisk = (env as unknown as { TEST_MIGRATIONS: { name: string }[] }).TEST_MIGRATIONS.map((migration) => migration.name);
  expect([...MIGRATIONS]).toEqual(onDisk);
});
