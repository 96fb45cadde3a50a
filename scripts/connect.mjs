#!/usr/bin/env node
// @ts-check
// Shows Stream's official client connected through this repository's token provider, against the
// local stack (`npm start` runs it once at startup; also `node scripts/connect.mjs` while it runs):
// a new user signs up on the Auth emulator, `createStreamTokenProvider` gets its Stream token from
// the Worker, and `stream-chat`'s `connectUser` opens the client connection.
//
//   node scripts/connect.mjs   (while npm start runs with its Stream stand-in)
import { StreamChat } from 'stream-chat';
import { answerHelp } from './lib/cli.mjs';
import { loadClient } from './lib/client.mjs';
import { readLocalRun } from './lib/run-file.mjs';
import { isMainModule } from './lib/process.mjs';

answerHelp(import.meta.url);

/**
 * @param {{ workerUrl: string; emulatorHost: string; streamAccess: { baseUrl: string; apiKey: string } }} stack
 * @returns {Promise<{ uid: string; name: string | undefined; connectionId: string | undefined }>}
 */
export async function connectDemo({ workerUrl, emulatorHost, streamAccess }) {
  const { createStreamTokenProvider } = await loadClient();
  const signUp = await fetch(`http://${emulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=local`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      email: `walkthrough-${Date.now()}@example.com`,
      password: 'password-123',
      displayName: 'Walkthrough',
      returnSecureToken: true,
    }),
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
  const run = readLocalRun();
  if (!run) {
    console.error('connect: npm start is not running (start it first, in another terminal)');
    process.exit(1);
  }
  if (!run.stream) {
    console.error('connect: npm start is using your real Stream app: connect from your app instead');
    process.exit(1);
  }
  try {
    const { uid, connectionId } = await connectDemo({ workerUrl: run.workerUrl, emulatorHost: run.emulatorHost, streamAccess: run.stream });
    console.log(`stream-chat connected as ${uid} (connection ${connectionId}) with a token from ${run.workerUrl}`);
  } catch (error) {
    console.error(`connect: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}
