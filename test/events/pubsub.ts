/**
 * Pub/Sub push requests as Google sends them, for the deletion events tests:
 * the OIDC token (signed by a key the test owns, published by a stand-in
 * key endpoint), the envelope, and log entries shaped after Google's
 * documented fields (src/events/deletion-event.ts cites them).
 */
import { SignJWT } from 'jose';
import type { Env } from '../../src/env';
import { callWorker, makeSigningKey, Scenario, type SigningKey } from '../support/fixtures';

export const AUDIENCE = 'https://tokens.example.com/v1/events/user-deleted';
export const PUSH_ACCOUNT = 'pubsub-push@demo-test-project.iam.gserviceaccount.com';

/** A Google OIDC key endpoint of its own, publishing `key`. */
export async function oidcKeys(): Promise<{ google: Scenario; key: SigningKey }> {
  const google = await Scenario.create();
  const key = await makeSigningKey();
  await google.setGoogle({ keys: [key] });
  return { google, key };
}

/** A push token as Pub/Sub mints it; `claims`/`header` override, `null` removes a claim. */
export async function pushToken(
  key: SigningKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: 'https://accounts.google.com',
    aud: AUDIENCE,
    email: PUSH_ACCOUNT,
    email_verified: true,
    sub: '1234567890',
    azp: '1234567890',
    iat: now,
    exp: now + 3600,
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === null) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header } as { alg: string })
    .sign(key.privateKey);
}

const base64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

/** The push envelope around `data` (an object is JSON-encoded, a string sent as the base64 it is). */
export function envelope(data: unknown, messageId = `${Date.now()}${Math.floor(Math.random() * 1000)}`): string {
  const encoded = typeof data === 'string' ? data : base64(JSON.stringify(data));
  return JSON.stringify({
    message: {
      data: encoded,
      messageId,
      message_id: messageId,
      publishTime: new Date().toISOString(),
      attributes: { 'logging.googleapis.com/timestamp': new Date().toISOString() },
    },
    subscription: 'projects/demo-test-project/subscriptions/stream-user-deleted-push',
  });
}

export function push(env: Env, body: string, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return callWorker(env, '/v1/events/user-deleted', {
    headers: { 'Content-Type': 'application/json', ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }), ...headers },
    body,
  });
}

/**
 * An Identity Platform activity log entry (log `identitytoolkit.googleapis.com/requests`), as routed to
 * Pub/Sub: the LogEntry's JSON. `resource` identitytoolkit_project or identitytoolkit_tenant (label
 * tenant_id), `protoPayload` the logged request and response with its methodName.
 */
export function activityLogEntry(
  method: 'DeleteAccount' | 'BatchDeleteAccounts',
  request: Record<string, unknown>,
  tenant?: string,
): Record<string, unknown> {
  return {
    insertId: 'kx3h1ve1a2b',
    logName: 'projects/demo-test-project/logs/identitytoolkit.googleapis.com%2Frequests',
    protoPayload: {
      '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
      status: {},
      authenticationInfo: { principalEmail: 'admin@example.com' },
      requestMetadata: { callerIp: '203.0.113.7', callerSuppliedUserAgent: 'Firebase Console' },
      serviceName: 'identitytoolkit.googleapis.com',
      methodName: `google.cloud.identitytoolkit.v1.AccountManagementService.${method}`,
      resourceName: 'projects/demo-test-project',
      request: { '@type': `type.googleapis.com/google.cloud.identitytoolkit.v1.${method}Request`, ...request },
      response: {
        '@type': `type.googleapis.com/google.cloud.identitytoolkit.v1.${method}Response`,
        kind: 'identitytoolkit#DeleteAccountResponse',
      },
    },
    resource:
      tenant === undefined
        ? { type: 'identitytoolkit_project', labels: { project_id: 'demo-test-project' } }
        : { type: 'identitytoolkit_tenant', labels: { project_id: 'demo-test-project', tenant_id: tenant } },
    timestamp: new Date().toISOString(),
    severity: 'INFO',
    receiveTimestamp: new Date().toISOString(),
  };
}

/** A Cloud Audit Logs entry (Data Access) of Identity Toolkit: resource `audited_resource`, the tenant only in the request. */
export function auditLogEntry(method: 'DeleteAccount' | 'BatchDeleteAccounts', request: Record<string, unknown>): Record<string, unknown> {
  const entry = activityLogEntry(method, request);
  return {
    ...entry,
    logName: 'projects/demo-test-project/logs/cloudaudit.googleapis.com%2Fdata_access',
    resource: {
      type: 'audited_resource',
      labels: {
        service: 'identitytoolkit.googleapis.com',
        method: `google.cloud.identitytoolkit.v1.AccountManagementService.${method}`,
        project_id: 'demo-test-project',
      },
    },
  };
}
