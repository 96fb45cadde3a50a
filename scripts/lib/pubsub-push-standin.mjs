// @ts-check
/**
 * A local stand-in for Pub/Sub's authenticated push, for `npm start`, the
 * demo and the end-to-end test: what Google does in production between an
 * account deleted in Firebase and `POST /v1/events/user-deleted`.
 *
 * - It signs each push with an RSA key of its own (RS256, like Google's push
 *   tokens: iss https://accounts.google.com, aud the audience, email the push
 *   service account, email_verified true) and serves that key's JWKS on
 *   127.0.0.1: point GOOGLE_OIDC_JWKS_URL at `jwksUrl`.
 * - It watches the Auth emulator (accounts:batchGet, project and tenants)
 *   and publishes `{uid, tenant}` for every account that disappears, as the
 *   forwarding function (2nd-gen onUserDeleted) would; or it is told to, with
 *   `publish()` or `POST /publish {"uid", "tenant"?}`.
 * - Like Pub/Sub it redelivers a push the Worker does not acknowledge (any
 *   answer but 102/200/201/202/204), with a growing backoff, a few times.
 */
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { listenOnLoopback } from './process.mjs';

export const LOCAL_PUSH_ACCOUNT = 'pubsub-push@local-demo.iam.gserviceaccount.com';
const ACK_STATUSES = new Set([102, 200, 201, 202, 204]);

/**
 * @typedef {{ uid: string; tenant?: string }} DeletionEvent
 * @typedef {{ event: DeletionEvent; status: number; attempts: number; at: number; body: string }} Delivery
 */

/**
 * @param {{ workerUrl: string; audience?: string; serviceAccount?: string; port?: number; log?: (line: string) => void; retries?: number }} options
 *   audience: default the endpoint's URL (gcloud's default too)
 */
export async function servePubSubPush(options) {
  const endpoint = `${options.workerUrl}/v1/events/user-deleted`;
  const audience = options.audience ?? endpoint;
  const serviceAccount = options.serviceAccount ?? LOCAL_PUSH_ACCOUNT;
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = `local-push-${Date.now().toString(36)}`;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] });
  /** @type {Delivery[]} */
  const deliveries = [];
  /** @type {Set<(delivery: Delivery) => void>} */
  const listeners = new Set();
  let messages = 0;
  let closed = false;

  /** @param {DeletionEvent} event */
  async function pushOnce(event) {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      iss: 'https://accounts.google.com',
      aud: audience,
      email: serviceAccount,
      email_verified: true,
      sub: '100000000000000000001',
      iat: now,
      exp: now + 3600,
    })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(privateKey);
    const messageId = String(++messages);
    const body = JSON.stringify({
      message: {
        data: Buffer.from(JSON.stringify(event)).toString('base64'),
        messageId,
        message_id: messageId,
        publishTime: new Date().toISOString(),
        attributes: {},
      },
      subscription: 'projects/local-demo/subscriptions/stream-user-deleted-push',
    });
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body,
    });
    return { status: response.status, body: await response.text() };
  }

  /**
   * Publishes one event and delivers it, redelivering until acknowledged (or out of retries).
   * @param {DeletionEvent} event
   * @returns {Promise<Delivery>}
   */
  async function publish(event) {
    let attempts = 0;
    for (;;) {
      attempts++;
      const answer = await pushOnce(event).catch((error) => ({ status: 0, body: error instanceof Error ? error.message : String(error) }));
      const delivery = { event, status: answer.status, attempts, at: Date.now(), body: answer.body };
      options.log?.(`push ${event.tenant ? `${event.tenant}/` : ''}${event.uid} → ${answer.status}\n`);
      if (ACK_STATUSES.has(answer.status) || attempts > (options.retries ?? 4) || closed) {
        deliveries.push(delivery);
        for (const listener of listeners) listener(delivery);
        return delivery;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempts)));
    }
  }

  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/certs') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=3600' });
      return void res.end(jwks);
    }
    if (req.method === 'POST' && req.url === '/publish') {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        /** @type {DeletionEvent} */
        let event;
        try {
          event = JSON.parse(text);
          if (typeof event.uid !== 'string') throw new Error('uid');
        } catch {
          res.writeHead(400, { 'Content-Type': 'application/json' });
          return void res.end(JSON.stringify({ error: 'send {"uid": "...", "tenant"?: "..."}' }));
        }
        void publish(event).then((delivery) => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(delivery));
        });
      });
      return;
    }
    res.writeHead(404).end();
  });
  const { url, close: closeServer } = await listenOnLoopback(server, options.port ?? 0);

  /** @type {ReturnType<typeof setInterval> | undefined} */
  let watcher;
  /**
   * Polls the Auth emulator and publishes an event for every account that disappears.
   * @param {{ emulatorHost: string; projectId: string; tenants?: string[]; intervalMs?: number }} target
   */
  async function watchEmulator({ emulatorHost, projectId, tenants = [], intervalMs = 100 }) {
    const scopes = ['', ...tenants];
    /** @type {Map<string, Set<string>>} */
    const known = new Map();
    const list = async (/** @type {string} */ tenant) => {
      const base = `http://${emulatorHost}/identitytoolkit.googleapis.com/v1/projects/${projectId}${tenant ? `/tenants/${tenant}` : ''}`;
      const uids = new Set();
      let pageToken = '';
      do {
        const response = await fetch(`${base}/accounts:batchGet?maxResults=1000${pageToken ? `&nextPageToken=${pageToken}` : ''}`, {
          headers: { Authorization: 'Bearer owner' },
        });
        if (!response.ok) throw new Error(`accounts:batchGet: HTTP ${response.status}`);
        const page = /** @type {{ users?: { localId: string }[]; nextPageToken?: string }} */ (await response.json());
        for (const user of page.users ?? []) uids.add(user.localId);
        pageToken = page.nextPageToken ?? '';
      } while (pageToken);
      return uids;
    };
    for (const tenant of scopes) known.set(tenant, await list(tenant));
    let busy = false;
    watcher = setInterval(async () => {
      if (busy || closed) return;
      busy = true;
      try {
        for (const tenant of scopes) {
          const now = await list(tenant);
          for (const uid of known.get(tenant) ?? []) if (!now.has(uid)) void publish(tenant ? { uid, tenant } : { uid });
          known.set(tenant, now);
        }
      } catch (error) {
        options.log?.(`pubsub stand-in: watching the emulator failed: ${error instanceof Error ? error.message : error}\n`);
      } finally {
        busy = false;
      }
    }, intervalMs);
  }

  /**
   * The next delivery acknowledged (or given up) for `uid`.
   * @param {string} uid
   * @param {number} [timeoutMs]
   * @returns {Promise<Delivery>}
   */
  function delivered(uid, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`no push for ${uid} within ${timeoutMs} ms`));
      }, timeoutMs);
      /** @param {Delivery} delivery */
      const listener = (delivery) => {
        if (delivery.event.uid !== uid) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(delivery);
      };
      listeners.add(listener);
    });
  }

  const close = async () => {
    closed = true;
    if (watcher) clearInterval(watcher);
    await closeServer();
  };
  return { url, jwksUrl: `${url}/certs`, audience, serviceAccount, publish, watchEmulator, delivered, deliveries, close };
}
