import type { Config } from './config';
import type { Env } from './env';
import { FirebaseAdminClient } from './firebase/admin-api';
import { emulatorAllowedFor } from './firebase/emulator';
import { keyStoreFor } from './firebase/google-keys';
import { ServiceAccountTokenSource } from './firebase/service-account';
import { verifyFirebaseIdToken } from './firebase/verify-id-token';
import type { ReconcileDeps } from './reconcile/reconcile';
import { UserRegistry } from './registry/registry';
import { StreamRestClient } from './stream/rest-client';
import { StreamTokenSigner } from './stream/tokens';
import { TokenService } from './token-service';
import type { IdTokenVerifier } from './http/auth';

/** Everything the handlers need, built once per isolate and configuration. */
export interface Services {
  config: Config;
  tokens: TokenService;
  verifyIdToken: IdTokenVerifier;
  registry: UserRegistry | undefined;
  /** undefined when reconciliation cannot run: no DB, or no way to ask Firebase. The reason is in `reconcileOff`. */
  reconcile: ReconcileDeps | undefined;
  reconcileOff: string | undefined;
}

export function buildServices(config: Config, env: Env): Services {
  const signer = new StreamTokenSigner(config.streamApiSecret);
  const stream = new StreamRestClient({ baseUrl: config.streamBaseUrl, apiKey: config.streamApiKey, signer });
  const keys = keyStoreFor(config.firebaseJwksUrl);
  const registry = env.DB ? new UserRegistry(env.DB) : undefined;
  const firebase = firebaseAdminFor(config);

  let reconcileOff: string | undefined;
  if (!registry) reconcileOff = 'no D1 binding "DB"';
  else if (!firebase) reconcileOff = 'neither GOOGLE_SERVICE_ACCOUNT nor FIREBASE_AUTH_EMULATOR_HOST is set';

  return {
    config,
    tokens: new TokenService({ config, signer, stream }),
    verifyIdToken: (idToken, requestUrl) =>
      verifyFirebaseIdToken(idToken, {
        projectId: config.firebaseProjectId,
        issuer: config.firebaseIssuer,
        getKey: (kid) => keys.getKey(kid),
        acceptUnsigned: emulatorAllowedFor(config.firebaseAuthEmulatorHost, requestUrl),
      }),
    registry,
    reconcile: registry && firebase ? { registry, firebase, stream, settings: config.reconcile } : undefined,
    reconcileOff,
  };
}

/** The emulator when FIREBASE_AUTH_EMULATOR_HOST is set (loopback only), else the service account, else nothing. */
function firebaseAdminFor(config: Config): FirebaseAdminClient | undefined {
  if (config.firebaseAuthEmulatorHost) {
    return new FirebaseAdminClient({
      projectId: config.firebaseProjectId,
      baseUrl: `http://${config.firebaseAuthEmulatorHost}/identitytoolkit.googleapis.com`,
      authorization: async () => 'Bearer owner',
    });
  }
  if (config.serviceAccount) {
    const tokens = new ServiceAccountTokenSource(config.serviceAccount);
    return new FirebaseAdminClient({
      projectId: config.firebaseProjectId,
      baseUrl: config.identityToolkitUrl,
      authorization: async () => `Bearer ${await tokens.accessToken()}`,
    });
  }
  return undefined;
}
