/**
 * Stream Video with the same provider: Stream's user tokens are the same
 * for every Stream product, so the provider that connects Chat is Video's
 * `tokenProvider` as it is. Type-checked by `npm run typecheck` against the
 * real `@stream-io/video-client` (a devDependency); not bundled into the web
 * example and not run in the tests: the video client talks to Stream's video
 * coordinator, which cannot be reached offline.
 */
import type { Auth } from 'firebase/auth';
import { StreamVideoClient, type TokenProvider } from '@stream-io/video-client';
import { createStreamTokenProvider } from '../../../client/index';

export function connectVideo(auth: Auth, workerUrl: string, streamApiKey: string): StreamVideoClient {
  const user = auth.currentUser;
  if (!user) throw new Error('Sign in first');
  const provider = createStreamTokenProvider({
    url: workerUrl,
    getIdToken: (force) => user.getIdToken(force),
    getUid: () => auth.currentUser?.uid,
  });
  const tokenProvider: TokenProvider = provider; // the provider is exactly what Stream Video asks for
  return StreamVideoClient.getOrCreateInstance({ apiKey: streamApiKey, user: { id: user.uid }, tokenProvider });
}
