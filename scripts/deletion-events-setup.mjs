#!/usr/bin/env node
// @ts-check
// Prints the exact commands that connect Google's deletion events to the Worker's
// POST /v1/events/user-deleted (docs/deletion.md, "Deletion events"), filled in for your project,
// Worker URL and push service account. It runs nothing: read, then paste.
//
//   node scripts/deletion-events-setup.mjs --project my-project --worker-url https://tokens.example.com \
//        [--source logs|function] [--service-account stream-events-push] [--topic stream-user-deleted] [--tenants t1,t2]
import { parseArgs } from 'node:util';
import { answerHelp } from './lib/cli.mjs';
import { isMainModule } from './lib/process.mjs';

const HELP = `Prints the gcloud (and wrangler) commands that deliver Firebase account deletions to the Worker.

  node scripts/deletion-events-setup.mjs --project PROJECT_ID --worker-url https://WORKER [options]

  --project ID             the Firebase / Google Cloud project id (required)
  --worker-url URL         the Worker's https URL, without a path (required)
  --source logs|function   logs (default): Identity Platform activity logs → log sink → Pub/Sub, no code;
                           function: a 2nd-gen onUserDeleted function publishes {uid, tenant}
  --service-account NAME   the push service account: a name (created in the project) or a full email
                           (default: stream-events-push)
  --topic NAME             the Pub/Sub topic (default: stream-user-deleted); the subscription, sink and
                           dead-letter topic are named after it
  --tenants T1,T2          Identity Platform tenants whose activity logs to turn on (logs source)
  --help                   this text`;

/**
 * @param {{ project: string; workerUrl: string; source?: string; serviceAccount?: string; topic?: string; tenants?: string[] }} options
 * @returns {string} the commands, with comments
 */
export function setupCommands(options) {
  const { project } = options;
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project))
    throw new Error('--project must be a Google Cloud project id (lowercase letters, digits, hyphens)');
  let worker;
  try {
    worker = new URL(options.workerUrl);
  } catch {
    throw new Error('--worker-url must be a URL, e.g. https://tokens.example.com');
  }
  if (worker.protocol !== 'https:') throw new Error('--worker-url must be https: Pub/Sub pushes only to https endpoints');
  const source = options.source ?? 'logs';
  if (source !== 'logs' && source !== 'function') throw new Error('--source must be logs or function');
  const topic = options.topic ?? 'stream-user-deleted';
  if (!/^[A-Za-z][\w.~+%-]{2,254}$/.test(topic)) throw new Error('--topic must be a Pub/Sub topic name');
  const name = options.serviceAccount ?? 'stream-events-push';
  const serviceAccount = name.includes('@') ? name : `${name}@${project}.iam.gserviceaccount.com`;
  const createAccount = !name.includes('@');
  if (createAccount && !/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(name))
    throw new Error('--service-account must be 6–30 lowercase letters, digits and hyphens, or an email');
  const tenants = options.tenants ?? [];
  for (const tenant of tenants) if (!/^[A-Za-z0-9-]{1,128}$/.test(tenant)) throw new Error(`--tenants: "${tenant}" is not a tenant id`);
  const endpoint = `${worker.origin}/v1/events/user-deleted`;
  const dead = `${topic}-dead`;
  const subscription = `${topic}-push`;
  const pubsubAgent = 'serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com';
  const methods = ['DeleteAccount', 'BatchDeleteAccounts']
    .map((m) => `"google.cloud.identitytoolkit.v1.AccountManagementService.${m}"`)
    .join(' OR ');

  const lines = [
    `# Deletion events for project ${project} → ${endpoint}`,
    `# Source: ${source === 'logs' ? 'Identity Platform activity logs (a log sink, no code)' : 'a 2nd-gen onUserDeleted function'}`,
    '',
    `PROJECT_NUMBER=$(gcloud projects describe ${project} --format='value(projectNumber)')`,
    '',
  ];
  if (source === 'logs') {
    lines.push(
      '# 1. Turn on Identity Platform activity logging (log identitytoolkit.googleapis.com/requests; off by default)',
      `curl -sS -X PATCH -H "Authorization: Bearer $(gcloud auth print-access-token)" -H "x-goog-user-project: ${project}" \\`,
      `  -H 'Content-Type: application/json' -d '{"monitoring":{"requestLogging":{"enabled":true}}}' \\`,
      `  "https://identitytoolkit.googleapis.com/admin/v2/projects/${project}/config?updateMask=monitoring.requestLogging.enabled"`,
      ...tenants.flatMap((tenant) => [
        `curl -sS -X PATCH -H "Authorization: Bearer $(gcloud auth print-access-token)" -H "x-goog-user-project: ${project}" \\`,
        `  -H 'Content-Type: application/json' -d '{"monitoring":{"requestLogging":{"enabled":true}}}' \\`,
        `  "https://identitytoolkit.googleapis.com/v2/projects/${project}/tenants/${tenant}?updateMask=monitoring.requestLogging.enabled"`,
      ]),
      '',
    );
  }
  lines.push(
    `# ${source === 'logs' ? 2 : 1}. The topic, and a dead-letter topic for pushes the Worker keeps refusing`,
    `gcloud pubsub topics create ${topic} --project=${project}`,
    `gcloud pubsub topics create ${dead} --project=${project}`,
    '',
  );
  if (source === 'logs') {
    lines.push(
      "# 3. The log sink (account deletions only) and its writer's right to publish to the topic",
      `gcloud logging sinks create ${topic} pubsub.googleapis.com/projects/${project}/topics/${topic} --project=${project} \\`,
      `  --log-filter='protoPayload.serviceName="identitytoolkit.googleapis.com" AND protoPayload.methodName=(${methods})'`,
      `WRITER=$(gcloud logging sinks describe ${topic} --project=${project} --format='value(writerIdentity)')`,
      `gcloud pubsub topics add-iam-policy-binding ${topic} --project=${project} --member="$WRITER" --role=roles/pubsub.publisher`,
      '',
    );
  } else {
    lines.push(
      '# 2. The function (functions/index.js), then deploy it: firebase deploy --only functions:forwardUserDeleted',
      "#   import { onUserDeleted } from 'firebase-functions/v2/identity';",
      "#   import { PubSub } from '@google-cloud/pubsub';",
      `#   const topic = new PubSub().topic('${topic}');`,
      '#   export const forwardUserDeleted = onUserDeleted(async (event) => {',
      '#     const { uid, tenantId } = event.data;',
      '#     await topic.publishMessage({ json: tenantId ? { uid, tenant: tenantId } : { uid } });',
      '#   });',
      '# Its runtime service account (the default compute account unless you chose one) publishes to the topic:',
      `gcloud pubsub topics add-iam-policy-binding ${topic} --project=${project} \\`,
      `  --member="serviceAccount:\${PROJECT_NUMBER}-compute@developer.gserviceaccount.com" --role=roles/pubsub.publisher`,
      '',
    );
  }
  const step = source === 'logs' ? 4 : 3;
  lines.push(
    `# ${step}. The push service account, and the Pub/Sub service agent's right to mint its OIDC tokens`,
    ...(createAccount
      ? [`gcloud iam service-accounts create ${name} --project=${project} --display-name="stream-token-edge deletion events push"`]
      : []),
    `gcloud iam service-accounts add-iam-policy-binding ${serviceAccount} --project=${project} \\`,
    `  --member="${pubsubAgent}" --role=roles/iam.serviceAccountTokenCreator`,
    '',
    `# ${step + 1}. The authenticated push subscription, with retries and the dead-letter topic`,
    `gcloud pubsub subscriptions create ${subscription} --project=${project} --topic=${topic} \\`,
    `  --push-endpoint=${endpoint} \\`,
    `  --push-auth-service-account=${serviceAccount} \\`,
    `  --push-auth-token-audience=${endpoint} \\`,
    `  --ack-deadline=60 --min-retry-delay=10s --max-retry-delay=600s \\`,
    `  --dead-letter-topic=${dead} --max-delivery-attempts=20`,
    `gcloud pubsub topics add-iam-policy-binding ${dead} --project=${project} --member="${pubsubAgent}" --role=roles/pubsub.publisher`,
    `gcloud pubsub subscriptions add-iam-policy-binding ${subscription} --project=${project} --member="${pubsubAgent}" --role=roles/pubsub.subscriber`,
    `gcloud pubsub subscriptions create ${dead}-pull --project=${project} --topic=${dead}   # to read what was dead-lettered`,
    '',
    `# ${step + 2}. The Worker: two vars in wrangler.toml [vars] (not secrets: neither is a credential), then deploy`,
    `#   DELETION_EVENTS_AUDIENCE = "${endpoint}"`,
    `#   DELETION_EVENTS_SERVICE_ACCOUNT = "${serviceAccount}"`,
    '# The route asks Firebase before deleting anything: GOOGLE_SERVICE_ACCOUNT must be set (npx wrangler secret put GOOGLE_SERVICE_ACCOUNT < key.json)',
    'npm run deploy',
    'npm run doctor -- --url ' + worker.origin + ' --admin-token "$ADMIN_TOKEN"   # the deletion_events check must say ok',
  );
  return lines.join('\n');
}

answerHelp(import.meta.url);
if (isMainModule(import.meta.url)) {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        project: { type: 'string' },
        'worker-url': { type: 'string' },
        source: { type: 'string' },
        'service-account': { type: 'string' },
        topic: { type: 'string' },
        tenants: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n\n${HELP}`);
    process.exit(1);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (!values.project || !values['worker-url']) {
    console.error(`--project and --worker-url are required\n\n${HELP}`);
    process.exit(1);
  }
  try {
    console.log(
      setupCommands({
        project: values.project,
        workerUrl: values['worker-url'],
        source: values.source,
        serviceAccount: values['service-account'],
        topic: values.topic,
        tenants: (values.tenants ?? '')
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      }),
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
