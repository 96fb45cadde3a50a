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

/** localhost, 127.0.0.0/8 or [::1], with or without a port. */
export function isLoopbackHost(hostWithOptionalPort: string): boolean {
  const host = stripPort(hostWithOptionalPort.trim().toLowerCase());
  if (host === 'localhost' || host === '[::1]' || host === '::1') return true;
  const octets = host.split('.');
  return (
    octets.length === 4 &&
    octets[0] === '127' &&
    octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255)
  );
}

/**
 * Where the Worker may send requests (tokens, assertions, secrets): `https:`,
 * or `http:` only to a loopback host (local stand-ins and emulators).
 */
export function isSecureOrLoopback(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.host));
}

/**
 * Whether a browser `Origin` is a page served from this machine
 * (`http(s)://localhost`, `127.0.0.0/8`, `[::1]`, any port). In emulator
 * mode every other origin is refused outright: a page from anywhere that
 * calls `http://127.0.0.1:8787` sends a loopback Host, and could otherwise
 * mint tokens with unsigned ID tokens, against real Stream credentials too.
 */
export function isLoopbackOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.host);
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colons = host.split(':').length - 1;
  return colons === 1 ? host.slice(0, host.indexOf(':')) : host;
}

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
      console.error(
        JSON.stringify({
          event: 'emulator_mode_refused',
          reason: 'FIREBASE_AUTH_EMULATOR_HOST is set but this request did not arrive on a loopback host; unsigned ID tokens are rejected',
        }),
      );
    }
    return false;
  }
}
