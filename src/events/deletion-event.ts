/**
 * @module deletion-event
 *
 * Reads a Pub/Sub push (pure: no I/O): the envelope, then its `data`, which
 * is one of the two things a deletion source publishes.
 *
 * - The envelope (Pub/Sub "Receive messages from push subscriptions",
 *   cloud.google.com/pubsub/docs/push): `{"message": {"data": "<base64>",
 *   "messageId", "publishTime", "attributes"}, "subscription"}`.
 * - `{"uid": "...", "tenant": "..."}`: what a forwarding function (the 2nd-gen
 *   `onUserDeleted` trigger) or a backend publishes; `tenant` optional.
 * - A Cloud Logging `LogEntry` routed by a sink (routed entries are the
 *   LogEntry's JSON). Identity Platform's activity logs
 *   (cloud.google.com/identity-platform/docs/activity-logging): `logName`
 *   `projects/P/logs/identitytoolkit.googleapis.com/requests`, `resource.type`
 *   `identitytoolkit_project` or `identitytoolkit_tenant`, `protoPayload` the
 *   logged request/response with its `methodName`. Identity Toolkit's audit
 *   logs (cloud.google.com/identity-platform/docs/audit-logging): service
 *   `identitytoolkit.googleapis.com`, the same method names. The requests are
 *   documented in the REST reference: `accounts:delete` (DeleteAccount)
 *   `{"localId", "tenantId"?, "idToken"?}` and `accounts:batchDelete`
 *   (BatchDeleteAccounts) `{"localIds": [...], "tenantId"?, "force"}`; the
 *   tenant is also in the resource's `tenant_id` label.
 *
 * A deletion by the end user (`idToken`, no `localId`) names no uid in the
 * request: such an entry is `unparsed` (the self-service route and the
 * sweep cover it), as is anything else that is not a deletion. Nothing read
 * here is trusted to delete: it only says which uids to ask Firebase about.
 */
import { AppError } from '../errors';
import { isServableUid, isTenantId } from '../user-id';

/** What a push asks: these uids may be gone (in `tenant`: undefined = the tenant the registry knows). */
type DeletionEvent =
  { kind: 'deleted'; uids: string[]; tenant: string | undefined; source: 'message' | 'log_entry' } | { kind: 'unparsed'; reason: string };

interface PushMessage {
  messageId: string | undefined;
  /** Base64 of the payload; undefined when the message has none. */
  data: string | undefined;
}

/** BatchDeleteAccounts takes up to 1,000 uids. */
const MAX_EVENT_UIDS = 1000;

const DELETE_METHODS: ReadonlySet<string> = new Set([
  'google.cloud.identitytoolkit.v1.AccountManagementService.DeleteAccount',
  'google.cloud.identitytoolkit.v1.AccountManagementService.BatchDeleteAccounts',
]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The envelope; AppError `invalid_request` (400) when the body is not a Pub/Sub push at all. */
export function readPushEnvelope(body: string): PushMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw notAnEnvelope('Body is not JSON');
  }
  const message = isObject(parsed) ? parsed.message : undefined;
  if (!isObject(message)) throw notAnEnvelope('Body has no "message" object');
  if (message.data !== undefined && typeof message.data !== 'string') throw notAnEnvelope('"message.data" is not a string');
  const messageId = typeof message.messageId === 'string' ? message.messageId.slice(0, 64) : undefined;
  return { messageId, data: message.data };
}

/** The message's payload, read as one of the two shapes; anything else is `unparsed`, with a reason that quotes nothing. */
export function readDeletionEvent(data: string | undefined): DeletionEvent {
  if (data === undefined || data === '') return unparsed('the message has no data');
  if (!BASE64.test(data)) return unparsed('the data is not base64');
  let value: unknown;
  try {
    const binary = atob(data);
    value = JSON.parse(utf8.decode(Uint8Array.from(binary, (char) => char.charCodeAt(0))));
  } catch {
    return unparsed('the data is not UTF-8 JSON');
  }
  if (!isObject(value)) return unparsed('the data is not a JSON object');
  if ('uid' in value) return fromForwarded(value);
  if ('protoPayload' in value || 'logName' in value) return fromLogEntry(value);
  return unparsed('neither {uid, tenant} nor a LogEntry');
}

function fromForwarded(value: Record<string, unknown>): DeletionEvent {
  if (!isServableUid(value.uid)) return unparsed('not a servable uid');
  const tenant = readTenant(value.tenant);
  if (tenant === null) return unparsed('not a tenant id');
  return { kind: 'deleted', uids: [value.uid], tenant, source: 'message' };
}

/** An activity or audit log entry of DeleteAccount / BatchDeleteAccounts. */
function fromLogEntry(entry: Record<string, unknown>): DeletionEvent {
  const payload = entry.protoPayload;
  if (!isObject(payload)) return unparsed('the log entry has no protoPayload');
  if (typeof payload.methodName !== 'string' || !DELETE_METHODS.has(payload.methodName)) {
    return unparsed('not a DeleteAccount entry');
  }
  const request = isObject(payload.request) ? payload.request : {};
  const named = Array.isArray(request.localIds) ? request.localIds : request.localId !== undefined ? [request.localId] : [];
  if (named.length === 0) return unparsed('the entry names no uid');
  if (named.length > MAX_EVENT_UIDS) return unparsed(`the log entry names more than ${MAX_EVENT_UIDS} uids`);
  const uids = [...new Set(named.filter(isServableUid))];
  if (uids.length === 0) return unparsed('no servable uid');

  const resource = isObject(entry.resource) ? entry.resource : {};
  const labels = isObject(resource.labels) ? resource.labels : {};
  // The request's tenantId, else the tenant resource's label; a project resource is the project's own users.
  let tenant = readTenant(request.tenantId ?? labels.tenant_id);
  if (tenant === undefined && resource.type === 'identitytoolkit_project') tenant = '';
  if (tenant === null) return unparsed('not a tenant id');
  return { kind: 'deleted', uids, tenant, source: 'log_entry' };
}

/** undefined: not stated; null: stated but not a tenant id; '' is the project itself. */
function readTenant(value: unknown): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (value === '') return '';
  return typeof value === 'string' && isTenantId(value) ? value : null;
}

function unparsed(reason: string): DeletionEvent {
  return { kind: 'unparsed', reason };
}

function notAnEnvelope(detail: string): AppError {
  return new AppError('invalid_request', `${detail}: not a Pub/Sub push`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
