import { initializeApp } from 'firebase/app';
import {
  connectAuthEmulator,
  createUserWithEmailAndPassword,
  deleteUser,
  getAuth,
  onAuthStateChanged,
  signInWithEmailAndPassword,
  signOut,
} from 'firebase/auth';
import { StreamChat } from 'stream-chat';
import { createStreamTokenProvider, deleteStreamUser, revokeStreamTokens, type StreamTokenProvider } from '../../../client/index';

// Settings come from the query string so one build serves local and deployed setups:
// ?worker=https://<worker>&authEmulator=&projectId=<id>&firebaseApiKey=<key>&streamKey=<Stream API key>&stream=<Stream base URL>
// With streamKey the page also connects Stream's official client (stream=: `npm start`'s stand-in; absent: Stream).
const params = new URLSearchParams(location.search);
const workerUrl = params.get('worker') ?? 'http://127.0.0.1:8787';
const streamKey = params.get('streamKey');
const streamUrl = params.get('stream') ?? undefined;
const authEmulator = params.get('authEmulator') ?? 'http://127.0.0.1:9099'; // empty: real Firebase
const projectId = params.get('projectId') ?? 'demo-stream-token-edge';

const app = initializeApp({
  apiKey: params.get('firebaseApiKey') ?? 'demo-api-key',
  authDomain: `${projectId}.firebaseapp.com`,
  projectId,
});
const auth = getAuth(app);
if (authEmulator) connectAuthEmulator(auth, authEmulator, { disableWarnings: true });

const $ = (id: string) => document.getElementById(id)!;
const field = (id: string) => ($(id) as HTMLInputElement).value;

function show(id: string, text: string, data?: string) {
  $(id).textContent = text;
  if (data !== undefined) $(id).dataset.value = data;
}

function showToken(token: string) {
  const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { user_id: string; exp?: number };
  const expiresAt = payload.exp === undefined ? '' : new Date(payload.exp * 1000).toISOString();
  show('stream-user-id', payload.user_id, payload.user_id);
  show('token-expiry', expiresAt ? new Date(expiresAt).toLocaleString() : 'never', expiresAt);
  show('token', `${token.slice(0, 16)}…${token.slice(-8)}`, token);
  $('token').dataset.count = String(Number($('token').dataset.count ?? '0') + 1);
}

// The client package (client/index.ts): creates the Stream user on first use, plain tokens after,
// refreshes the ID token once when the Worker refuses it, honours Retry-After.
let provider: StreamTokenProvider | undefined;
let chat: StreamChat | undefined;
const getIdToken = (force: boolean) => {
  const user = auth.currentUser;
  if (!user) throw new Error('Sign in first');
  return user.getIdToken(force);
};
// Shows each token as the SDK receives it.
const showingProvider = async () => {
  const token = await provider!();
  showToken(token);
  return token;
};
async function run(action: () => Promise<unknown>) {
  show('error', '');
  try {
    await action();
  } catch (error) {
    show('error', error instanceof Error ? error.message : String(error));
  }
}

$('sign-up').addEventListener('click', () => run(() => createUserWithEmailAndPassword(auth, field('email'), field('password'))));
$('sign-in').addEventListener('click', () => run(() => signInWithEmailAndPassword(auth, field('email'), field('password'))));
$('sign-out').addEventListener('click', () =>
  run(async () => {
    // Revoke first (it needs the ID token), then leave Stream and Firebase.
    if (auth.currentUser) await revokeStreamTokens({ url: workerUrl, getIdToken });
    await chat?.disconnectUser();
    provider?.reset(); // nothing of this user's is kept for the next one
    await signOut(auth);
  }),
);
$('revoke').addEventListener('click', () =>
  run(async () => show('revoked', (await revokeStreamTokens({ url: workerUrl, getIdToken })).revoked_before, 'yes')),
);

// Delete the Firebase account, then the Stream user at once: the ID token taken before the deletion is
// still validly signed, and the Worker checks with Firebase that the account is really gone.
$('delete-account').addEventListener('click', () =>
  run(async () => {
    const user = auth.currentUser;
    if (!user) throw new Error('Sign in first');
    const idToken = await user.getIdToken();
    await deleteUser(user);
    await chat?.disconnectUser();
    const answer = await deleteStreamUser({ url: workerUrl, getIdToken: async () => idToken });
    // 200: gone from Stream; 202: not yet (the account still existed, or Stream is still deleting): the cron finishes it.
    const outcome = answer.deleted ? (answer.completed ? 'deleted' : 'deleting') : `not deleted: ${answer.reason}`;
    show('delete-result', outcome, outcome);
  }),
);

onAuthStateChanged(auth, (user) => {
  show('firebase-uid', user?.uid ?? '–', user?.uid ?? '');
  if (!user) {
    for (const id of ['stream-user-id', 'token-expiry', 'token', 'stream-connected']) show(id, '–', '');
    provider = undefined;
    return;
  }
  provider = createStreamTokenProvider({ url: workerUrl, getIdToken, getUid: () => auth.currentUser?.uid });
  void run(async () => {
    if (!streamKey) return showToken(await provider!()); // no Stream app configured: show the token only
    chat = new StreamChat(streamKey, streamUrl ? { baseURL: streamUrl } : {});
    const connected = await chat.connectUser({ id: user.uid }, showingProvider);
    show('stream-connected', `${connected?.me?.id} (${connected?.me?.name ?? 'no name'})`, connected?.me?.id ?? '');
  });
});
