import { ConfigError, getConfig, type Config } from './config';
import type { Env } from './env';
import { AppError } from './errors';
import { createApp, protocolOf, type App } from './http/app';
import { errorResponse, json } from './http/respond';
import { reconcile } from './reconcile/reconcile';
import { buildServices, type Services } from './services';

/**
 * Composition root: the Worker's handlers. Config is validated and the
 * services and app are built once per isolate (and per env object).
 */
const built = new WeakMap<Config, { services: Services; app: App }>();

function servicesFor(env: Env): { services: Services; app: App } {
  const config = getConfig(env);
  let entry = built.get(config);
  if (!entry) {
    const services = buildServices(config, env);
    entry = { services, app: createApp(services) };
    built.set(config, entry);
  }
  return entry;
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    let app: App;
    try {
      app = servicesFor(env).app;
    } catch (error) {
      return misconfigured(request, error);
    }
    return app.fetch(request, env, ctx);
  },

  /** Cron: deleted Firebase users are deleted from Stream (src/reconcile/). */
  async scheduled(_controller, env, _ctx): Promise<void> {
    const { services } = servicesFor(env); // a config error throws here and shows as a failed cron run
    if (!services.reconcile) {
      console.error(JSON.stringify({ event: 'reconcile_skipped', reason: services.reconcileOff }));
      return;
    }
    const summary = await reconcile(services.reconcile);
    // Logged already; thrown too, so the failure shows as a failed cron run rather than a green one.
    if (summary.error) throw new Error(`reconciliation stopped: ${summary.error}`);
  },
} satisfies ExportedHandler<Env>;

/** A broken configuration names its settings in the log and in /healthz, never their values; requests get a bare 500. */
function misconfigured(request: Request, error: unknown): Response {
  const settings = error instanceof ConfigError ? error.settings : [];
  console.error(JSON.stringify({ event: 'invalid_config', error: error instanceof Error ? error.message : String(error) }));
  const path = new URL(request.url).pathname;
  if (path === '/healthz') return json({ status: 'misconfigured', settings }, 503);
  return errorResponse(new AppError('internal', 'Service is misconfigured'), protocolOf(path));
}
