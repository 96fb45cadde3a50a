import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { setupCommands } from '../../scripts/deletion-events-setup.mjs';

describe('scripts/deletion-events-setup.mjs', () => {
  it('fills the commands in for the project, Worker URL and push service account (logs source)', () => {
    const text = setupCommands({ project: 'my-project', workerUrl: 'https://tokens.example.com/', tenants: ['t-1'] });
    const endpoint = 'https://tokens.example.com/v1/events/user-deleted';
    expect(text).toContain('admin/v2/projects/my-project/config?updateMask=monitoring.requestLogging.enabled');
    expect(text).toContain('v2/projects/my-project/tenants/t-1?updateMask=monitoring.requestLogging.enabled');
    expect(text).toContain(
      'gcloud logging sinks create stream-user-deleted pubsub.googleapis.com/projects/my-project/topics/stream-user-deleted',
    );
    expect(text).toContain('google.cloud.identitytoolkit.v1.AccountManagementService.BatchDeleteAccounts');
    expect(text).toContain('--role=roles/pubsub.publisher');
    expect(text).toContain('--role=roles/iam.serviceAccountTokenCreator');
    expect(text).toContain(`--push-auth-service-account=stream-events-push@my-project.iam.gserviceaccount.com`);
    expect(text).toContain(`--push-auth-token-audience=${endpoint}`);
    expect(text).toContain('--dead-letter-topic=stream-user-deleted-dead');
    expect(text).toContain(`DELETION_EVENTS_AUDIENCE = "${endpoint}"`);
  });

  it('the function source publishes {uid, tenant} instead of a sink, and an email is used as given', () => {
    const text = setupCommands({
      project: 'my-project',
      workerUrl: 'https://w.example.com',
      source: 'function',
      serviceAccount: 'push@other.iam.gserviceaccount.com',
    });
    expect(text).toContain('onUserDeleted');
    expect(text).not.toContain('gcloud logging sinks create');
    expect(text).not.toContain('gcloud iam service-accounts create');
    expect(text).toContain('--push-auth-service-account=push@other.iam.gserviceaccount.com');
  });

  it.each([
    [{ project: 'My Project', workerUrl: 'https://w.example.com' }, '--project'],
    [{ project: 'my-project', workerUrl: 'http://w.example.com' }, 'https'],
    [{ project: 'my-project', workerUrl: 'https://w.example.com', source: 'cron' }, '--source'],
  ])('refuses %j', (options, message) => {
    expect(() => setupCommands(options)).toThrow(message);
  });

  it('answers --help, and exits 1 without the required options', () => {
    const help = spawnSync(process.execPath, ['scripts/deletion-events-setup.mjs', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--worker-url');
    expect(spawnSync(process.execPath, ['scripts/deletion-events-setup.mjs'], { encoding: 'utf8' }).status).toBe(1);
  });
});
