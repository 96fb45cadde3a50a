#!/usr/bin/env node
// @ts-check
// Shows Stream's official client connected through this repository's token provider, against the
// local stack (`npm start` runs it once at startup; also `node scripts/connect.mjs` while it runs):
// a new user signs up on the Auth emulator, `createStreamTokenProvider` gets its Stream token from
// the Worker, and `stream-chat`'s `connectUser` opens the client connection.
import { readFileSync } from 'node:fs';
import { StreamChat } from 'stream-chat';
import { loadClient } from './lib/client.mjs';
import { RUN_FILE } from './lib/run-file.mjs';
import { isMainModule } from './lib/process.mjs';

/**
 * @param {{ workerUrl: string; emulatorHost: string; streamAccess: { baseUrl: string; apiKey: string } }} stack
 * @returns {Promise<{ uid: string; name: string | undefined; connectionId: string | undefined }>}
 */
export async function connectDemo({ workerUrl, emulatorHost, streamAccess }) {
  const { createStreamTokenProvider } = await loadClient();
  const signUp = await fetch(`http://${emulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=local`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: `walkthrough-${Date.now()}@example.com`, password: 'password-123', displayName: 'Walkthrough', returnSecureToken: true }),
  });
  if (!signUp.ok) throw new Error(`Auth emulator sign-up: HTTP ${signUp.status}`);
  const { localId: uid, idToken } = /** @type {{ localId: string; idToken: string }} */ (await signUp.json());
  const provider = createStreamTokenProvider({ url: workerUrl, getIdToken: async () => idToken });
  const chat = new StreamChat(streamAccess.apiKey, { baseURL: streamAccess.baseUrl, allowServerSideConnect: true });
  try {
    const connected = await chat.connectUser({ id: uid }, provider);
    return { uid, name: connected?.me?.name, connectionId: connected?.connection_id };
  } finally {
    await chat.disconnectUser();
  }
}

if (isMainModule(import.meta.url)) {
  const run = JSON.parse(readFileSync(RUN_FILE, 'utf8'));
  if (!run.stream) throw new Error('npm start is using your real Stream app: connect from your app instead');
  const { uid, connectionId } = await connectDemo({ workerUrl: run.workerUrl, emulatorHost: run.emulatorHost, streamAccess: run.stream });
  console.log(`stream-chat connected as ${uid} (connection ${connectionId}) with a token from ${run.workerUrl}`);
}
