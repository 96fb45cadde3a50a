// @ts-check
// The original's stack on Node: firebase-admin's verifyIdToken and
// stream-chat's createToken behind a plain HTTP server, answering the
// callable protocol like the Cloud Function getStreamUserToken.
import { createServer } from 'node:http';
import { initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { StreamChat } from 'stream-chat';

const { PORT, PROJECT_ID, KEYS_URL, STREAM_API_KEY, STREAM_API_SECRET } = process.env;
const app = initializeApp({ projectId: PROJECT_ID });
const auth = getAuth(app);
// firebase-admin has Google's X.509 URL built in; point it at the benchmark's stand-in.
const verifier = /** @type {any} */ (auth).idTokenVerifier; // private
const fetcher = verifier?.signatureVerifier?.keyFetcher;
if (!fetcher || typeof fetcher.clientCertUrl !== 'string') throw new Error('firebase-admin internals changed: cannot redirect key fetches');
fetcher.clientCertUrl = KEYS_URL;
const stream = new StreamChat(/** @type {string} */ (STREAM_API_KEY), STREAM_API_SECRET);

const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', async () => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    try {
      if (!match) throw new Error('no token');
      const { uid } = await auth.verifyIdToken(/** @type {string} */ (match[1]));
      const iat = Math.floor(Date.now() / 1000);
      const token = stream.createToken(uid, iat + 3600, iat);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ result: token }));
    } catch {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end('{"error":{"status":"UNAUTHENTICATED","message":"bad token"}}');
    }
  });
});
server.listen(Number(PORT), '127.0.0.1', () => process.send?.('ready'));
