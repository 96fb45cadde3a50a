// The known Workers library: firebase-auth-cloudflare-workers verifies the ID
// token (its keys cached in KV, as its README shows), jose signs the Stream
// token. Google's key URL is rewritten to the benchmark's stand-in.
import { Auth, WorkersKVStoreSingle } from 'firebase-auth-cloudflare-workers';
import { SignJWT } from 'jose';

const GOOGLE_JWK_URL = 'https://www.googleapis.com/robot/v1/metadata/jwk/securetoken@system.gserviceaccount.com';
let rewired = false;

export default {
  async fetch(request, env) {
    if (!rewired) {
      const realFetch = globalThis.fetch;
      globalThis.fetch = (input, init) => realFetch(String(input) === GOOGLE_JWK_URL ? env.KEYS_URL : input, init);
      rewired = true;
    }
    await request.text();
    const match = /^Bearer (.+)$/.exec(request.headers.get('Authorization') ?? '');
    if (!match) return Response.json({ error: { status: 'UNAUTHENTICATED', message: 'no token' } }, { status: 401 });
    const auth = Auth.getOrInitialize(env.PROJECT_ID, WorkersKVStoreSingle.getOrInitialize('public-keys', env.KEYS));
    let uid;
    try {
      uid = (await auth.verifyIdToken(match[1])).uid;
    } catch {
      return Response.json({ error: { status: 'UNAUTHENTICATED', message: 'bad token' } }, { status: 401 });
    }
    const iat = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ user_id: uid, exp: iat + 3600, iat })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(env.STREAM_API_SECRET));
    return Response.json({ result: token });
  },
};
