// @ts-check
/**
 * The few Stream Chat REST calls the scripts make themselves (the Worker has its
 * own client in src/stream): a server token, and queryUsers.
 */
import { createHmac } from 'node:crypto';

/** Stream's API, where no STREAM_BASE_URL says otherwise. */
export const DEFAULT_STREAM_BASE_URL = 'https://chat.stream-io-api.com';

/**
 * Where a Stream app answers, and its credentials.
 * @typedef {{ baseUrl: string; apiKey: string; secret: string }} StreamAccess
 */

/**
 * A Stream user as queryUsers returns it (the fields the scripts read).
 * @typedef {{ id: string; name?: string; role?: string; created_at?: string; deleted_at?: string; revoke_tokens_issued_before?: string } & Record<string, unknown>} StreamUser
 */

/** Stream answered a call with a non-2xx status. */
export class StreamHttpError extends Error {
  /** @param {string} call @param {number} status */
  constructor(call, status) {
    super(`Stream ${call} answered HTTP ${status}`);
    this.status = status;
  }
}

/**
 * The STREAM_* settings of a vars file (.dev.vars) as a StreamAccess.
 * @param {Record<string, string>} vars
 * @returns {StreamAccess}
 */
export function streamAccessFrom(vars) {
  return {
    baseUrl: vars.STREAM_BASE_URL ?? DEFAULT_STREAM_BASE_URL,
    apiKey: /** @type {string} */ (vars.STREAM_API_KEY),
    secret: /** @type {string} */ (vars.STREAM_API_SECRET),
  };
}

/**
 * Stream's server token: an HS256 JWT `{"server":true}` signed with the app secret.
 * @param {string} secret
 */
export function serverToken(secret) {
  const signingInput = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"server":true}').toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/**
 * GET /users (queryUsers) with a server token.
 * @param {StreamAccess} access
 * @param {{ filter_conditions: Record<string, unknown>; sort?: { field: string; direction: number }[]; presence?: boolean; limit?: number; offset?: number }} payload
 * @returns {Promise<StreamUser[]>}
 * @throws {StreamHttpError} when Stream does not answer 2xx
 */
export async function queryUsers(access, payload) {
  const url = `${access.baseUrl}/users?api_key=${encodeURIComponent(access.apiKey)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const response = await fetch(url, { headers: { Authorization: serverToken(access.secret), 'stream-auth-type': 'jwt' } });
  if (!response.ok) throw new StreamHttpError('queryUsers', response.status);
  return /** @type {{ users: StreamUser[] }} */ (await response.json()).users;
}

/**
 * GET /app with a server token: whether the key and secret belong to one Stream app, which
 * `npm start` checks once when .dev.vars holds real credentials (the doctor asks the Worker the same).
 * @param {StreamAccess} access
 * @returns {Promise<{ ok: true; name: string } | { ok: false; fix: string }>} fix: what went wrong and what to change
 */
export async function checkStreamApp(access) {
  const url = `${access.baseUrl}/app?api_key=${encodeURIComponent(access.apiKey)}`;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: serverToken(access.secret), 'stream-auth-type': 'jwt' },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const why = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    return { ok: false, fix: `could not reach ${access.baseUrl} (${why}): check your network, or STREAM_BASE_URL in .dev.vars` };
  }
  /** @type {{ app?: { name?: string }; code?: number; message?: string }} */
  const body = await response.json().catch(() => ({}));
  if (response.ok) return { ok: true, name: body.app?.name ?? '(no name)' };
  // Stream answers 401 code 2 for a key it does not know, 401 code 5 or 43 for a token its secret did not sign.
  if (response.status === 401 && body.code === 2)
    return {
      ok: false,
      fix: `Stream does not know the API key ${access.apiKey}: copy STREAM_API_KEY from the Stream dashboard into .dev.vars`,
    };
  if (response.status === 401 || response.status === 403) {
    return {
      ok: false,
      fix: `Stream refused the secret for key ${access.apiKey} (HTTP ${response.status}${body.message ? `: ${body.message}` : ''}): copy STREAM_API_SECRET of that app from the Stream dashboard into .dev.vars`,
    };
  }
  return {
    ok: false,
    fix: `Stream answered GET /app with HTTP ${response.status}${body.message ? ` (${body.message})` : ''}: check STREAM_API_KEY, STREAM_API_SECRET and STREAM_BASE_URL in .dev.vars`,
  };
}
