import type { Hono } from 'hono';
import { ConfigError, getConfig, type Config } from './config';
import type { Env } from './env';
import { emulatorAllowedFor } from './firebase/emulator';
import { keyStoreFor } from './firebase/google-keys';
import { verifyFirebaseIdToken } from './firebase/verify-id-token';
import { createApp } from './http/app';
import { json } from './http/respond';
import { StreamRestClient } from './stream/rest-client';
import { StreamTokenSigner } from './stream/tokens';
import { TokenService } from './token-service';

/**
 * Composition root: turns a validated Config into the app, once per isolate
 * and configuration, and exports the Worker's handlers.
 */
const apps = new WeakMap<Config, Hono<{ Bindings: Env }>>();

function appFor(config: Config): Hono<{ Bindings: Env }> {
  let app = apps.get(config);
  if (!app) {
    const signer = new StreamTokenSigner(config.streamApiSecret);
    const stream = new StreamRestClient({ baseUrl: config.streamBaseUrl, apiKey: config.streamApiKey, signer });
    const keys = keyStoreFor(config.firebaseJwksUrl);
    app = createApp({
      tokens: new TokenService({ config, signer, stream }),
      verifyIdToken: (idToken, requestUrl) =>
        verifyFirebaseIdToken(idToken, {
          projectId: config.firebaseProjectId,
          issuer: config.firebaseIssuer,
          getKey: (kid) => keys.getKey(kid),
          acceptUnsigned: emulatorAllowedFor(config.firebaseAuthEmulatorHost, requestUrl),
        }),
      streamApiKey: config.streamApiKey,
      cors: config.cors,
    }) as unknown as Hono<{ Bindings: Env }>;
    apps.set(config, app);
  }
  return app;
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    let config: Config;
    try {
      config = getConfig(env);
    } catch (error) {
      return misconfigured(request, error);
    }
    return appFor(config).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;

/** A broken configuration names its settings in the log and in /healthz, never their values; requests get a bare 500. */
function misconfigured(request: Request, error: unknown): Response {
  const settings = error instanceof ConfigError ? error.settings : [];
  console.error(JSON.stringify({ event: 'invalid_config', error: error instanceof Error ? error.message : String(error) }));
  if (new URL(request.url).pathname === '/healthz') return json({ status: 'misconfigured', settings }, 503);
  return json({ error: { status: 'INTERNAL', message: 'Service is misconfigured' } }, 500);
}
