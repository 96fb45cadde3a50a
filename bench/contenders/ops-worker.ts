// Per-operation costs inside workerd: GET /?op=verify|sign|appcheck|revoked-hit|request&n=N runs the
// operation N times in one request; the benchmark times requests with
// different N from outside (workerd's clock does not advance during
// computation) and divides the difference.
import { AccountStatusCheck } from '../../src/firebase/account-status';
import { FirebaseAdminClient } from '../../src/firebase/admin-api';
import { verifyAppCheckToken } from '../../src/firebase/app-check';
import { GoogleKeyStore } from '../../src/firebase/google-keys';
import { verifyFirebaseIdToken } from '../../src/firebase/verify-id-token';
import { StreamTokenSigner } from '../../src/stream/tokens';
import worker from '../../src/index';

interface OpsEnv {
  KEYS_URL: string;
  PROJECT_ID: string;
}

const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
let appEnv: Record<string, string> | undefined;

let keys: GoogleKeyStore | undefined;
const signer = new StreamTokenSigner('bench-secret');
/** FIREBASE_CHECK_REVOKED with a cache hit: the one lookup answers from here, every later check from the cache. */
const accountStatus = new AccountStatusCheck({
  client: new FirebaseAdminClient({
    projectId: 'bench',
    baseUrl: 'http://lookup.invalid',
    authorization: async () => 'Bearer bench',
    fetch: async () =>
      Response.json({ kind: 'identitytoolkit#GetAccountInfoResponse', users: [{ localId: 'bench-user', validSince: '1' }] }),
  }),
  cacheSeconds: 3600,
});

export default {
  async fetch(request: Request, env: OpsEnv): Promise<Response> {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get('n') ?? '0');
    const op = url.searchParams.get('op');
    const idToken = request.headers.get('Authorization')?.slice('Bearer '.length) ?? '';
    keys ??= new GoogleKeyStore({ url: env.KEYS_URL });
    const options = {
      projectId: env.PROJECT_ID,
      issuer: `https://securetoken.google.com/${env.PROJECT_ID}`,
      getKey: (kid: string) => keys!.getKey(kid),
    };
    await verifyFirebaseIdToken(idToken, options); // warm: keys fetched and imported before timing
    const appCheckToken = request.headers.get('X-Firebase-AppCheck') ?? '';
    const appCheckRules = { projectNumber: '123456789012', appIds: undefined };
    const claims = { sub: 'bench-user', aud: 'bench', iss: 'bench', exp: 2e9, iat: 1, auth_time: 1_700_000_000 };
    let last = '';
    appEnv ??= {
      FIREBASE_PROJECT_ID: env.PROJECT_ID,
      STREAM_API_KEY: 'k',
      STREAM_API_SECRET: 'bench-secret',
      FIREBASE_JWKS_URL: env.KEYS_URL,
    };
    for (let i = 0; i < n; i++) {
      if (op === 'request') {
        // The whole Worker, routing and protocol included, without the network.
        const response = await worker.fetch(
          new Request('http://bench/getStreamUserToken', {
            method: 'POST',
            headers: { Authorization: `Bearer ${idToken}`, 'Content-Type': 'application/json', 'Content-Length': '13' },
            body: '{"data":null}',
          }) as Request<unknown, IncomingRequestCfProperties>,
          appEnv,
          ctx,
        );
        last = (await response.text()).slice(0, 12);
      } else if (op === 'verify') last = (await verifyFirebaseIdToken(idToken, options)).sub;
      else if (op === 'appcheck') last = (await verifyAppCheckToken(appCheckToken, appCheckRules, (kid) => keys!.getKey(kid))).appId;
      else if (op === 'revoked-hit') {
        await accountStatus.check(claims, '');
        last = 'ok';
      } else if (op === 'sign') last = await signer.userToken(`user-${i}`, { iat: 1_800_000_000, exp: 1_800_003_600 });
    }
    return new Response(last.slice(0, 8));
  },
};
