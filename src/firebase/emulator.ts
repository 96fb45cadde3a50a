/**
 * Firebase Auth emulator mode, fenced so it can never weaken a deployed Worker.
 *
 * The emulator mints unsigned ID tokens (`alg: none`), which firebase-admin
 * accepts when FIREBASE_AUTH_EMULATOR_HOST is set. We accept them only when
 * BOTH the emulator host is a loopback address AND the request itself arrived
 * on a loopback host; on Cloudflare a request's URL carries the Worker's own
 * hostname, so a deployed Worker with the variable set by mistake still
 * refuses unsigned tokens, and says so loudly in its log.
 */
import { isLoopbackHost } from '../platform/loopback';
import { log } from '../platform/log';

/**
 * Whether a request may use an unsigned emulator token. One per isolate
 * (built by the composition root), so it logs the refusal once, not per request.
 */
export class EmulatorFence {
  readonly #emulatorHost: string | undefined;
  #warnedAboutRequestHost = false;

  constructor(emulatorHost: string | undefined) {
    this.#emulatorHost = emulatorHost && isLoopbackHost(emulatorHost) ? emulatorHost : undefined;
  }

  allows(requestUrl: string): boolean {
    if (!this.#emulatorHost) return false;
    const requestHost = new URL(requestUrl).host;
    if (isLoopbackHost(requestHost)) return true;
    if (!this.#warnedAboutRequestHost) {
      this.#warnedAboutRequestHost = true;
      log.error('emulator_mode_refused', {
        reason: 'FIREBASE_AUTH_EMULATOR_HOST is set but this request did not arrive on a loopback host; unsigned ID tokens are rejected',
      });
    }
    return false;
  }
}
