/**
 * Loopback hosts and the URLs the Worker may send secrets to: one rule for
 * the settings (src/config/), the emulator fence (src/firebase/emulator.ts)
 * and CORS in emulator mode (src/http/app.ts). A loopback host is this
 * machine only, so plain `http:` to it exposes nothing on the network.
 */

/** localhost, 127.0.0.0/8 or [::1], with or without a port. */
export function isLoopbackHost(hostWithOptionalPort: string): boolean {
  const host = stripPort(hostWithOptionalPort.trim().toLowerCase());
  if (host === 'localhost' || host === '[::1]' || host === '::1') return true;
  const octets = host.split('.');
  return octets.length === 4 && octets[0] === '127' && octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255);
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
