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
import { createTokenProvider, type TokenResponse } from './token-provider';

// Settings come from the query string so one build serves local and deployed setups:
// ?worker=https://<worker>&authEmulator=&projectId=<id>&firebaseApiKey=<key>
const params = new URLSearchParams(location.search);
const workerUrl = params.get('worker') ?? 'http://127.0.0.1:8787';
const authEmulator = params.get('authEmulator') ?? 'http://127.0.0.1:9099'; // empty: real Firebase
const projectId = params.get('projectId') ?? 'demo-stream-token-edge';

const app = initializeApp({ apiKey: params.get('firebaseApiKey') ?? 'demo-api-key', authDomain: `${projectId}.firebaseapp.com`, projectId });
const auth = getAuth(app);
if (authEmulator) connectAuthEmulator(auth, authEmulator, { disableWarnings: true });

const $ = (id: string) => document.getElementById(id)!;
const field = (id: string) => ($(id) as HTMLInputElement).value;

function show(id: string, text: string, data?: string) {
  $(id).textContent = text;
  if (data !== undefined) $(id).dataset.value = data;
}

function showToken(response: TokenResponse) {
  show('stream-user-id', response.user_id, response.user_id);
  show('token-expiry', response.expires_at ? new Date(response.expires_at).toLocaleString() : 'never', response.expires_at ?? '');
  show('token', `${response.token.slice(0, 16)}…${response.token.slice(-8)}`, response.token);
}

// In a chat app: `await chat.connectUser({ id: user.uid }, tokenProvider)`.
const tokenProvider = createTokenProvider(workerUrl, auth, showToken);

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
$('sign-out').addEventListener('click', () => run(() => signOut(auth)));

// Delete the Firebase account, then the Stream user at once: the ID token taken before the deletion is
// still validly signed, and the Worker checks with Firebase that the account is really gone.
$('delete-account').addEventListener('click', () =>
  run(async () => {
    const user = auth.currentUser;
    if (!user) throw new Error('Sign in first');
    const idToken = await user.getIdToken();
    await deleteUser(user);
    const response = await fetch(`${workerUrl}/v1/users/me/delete`, { method: 'POST', headers: { Authorization: `Bearer ${idToken}` } });
    const answer = (await response.json()) as { deleted?: boolean; completed?: boolean; reason?: string; detail?: string };
    if (!response.ok) throw new Error(answer.detail ?? `HTTP ${response.status}`);
    // 200: gone from Stream; 202: not yet (the account still existed, or Stream is still deleting): the cron finishes it.
    const outcome = answer.deleted ? (answer.completed ? 'deleted' : 'deleting') : `not deleted: ${answer.reason}`;
    show('delete-result', outcome, outcome);
  }),
);

onAuthStateChanged(auth, (user) => {
  show('firebase-uid', user?.uid ?? '–', user?.uid ?? '');
  if (!user) {
    for (const id of ['stream-user-id', 'token-expiry', 'token']) show(id, '–', '');
    return;
  }
  void run(tokenProvider);
});
