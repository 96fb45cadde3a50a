/**
 * Google's ID-token key endpoint, as firebase-admin sees it, without a network:
 * a self-signed X.509 certificate for a test RSA key (built here in DER with
 * node:crypto, no extra dependency) served as `{ kid: PEM }` by a loopback
 * HTTP server, and an `https.Agent` whose connections go to that server
 * whatever host firebase-admin asks for. firebase-admin passes the app's
 * `httpAgent` option to its key fetcher, so nothing global is patched.
 */
import { createHash, createPublicKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';

/** The URL firebase-admin 13 fetches the ID-token certificates from. */
export const GOOGLE_CERTS_HOST = 'www.googleapis.com';
export const GOOGLE_CERTS_PATH = '/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com';

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const der = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const sequence = (...parts: Buffer[]) => der(0x30, ...parts);

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

function utcTime(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.678Z
  const text = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  return der(0x17, Buffer.from(text, 'ascii'));
}

/** A minimal self-signed v3 certificate (sha256WithRSAEncryption) for `privateKey`, as PEM. */
export function selfSignedCertificatePem(privateKey: KeyObject, commonName: string, nowMs: number): string {
  const publicKey = createPublicKey(privateKey);
  const sha256WithRsa = sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(commonName, 'utf8')))));
  const serial = createHash('sha256').update(commonName).digest().subarray(0, 8);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, no leading zero
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([0x02]))), // version v3
    der(0x02, serial),
    sha256WithRsa,
    name,
    sequence(utcTime(nowMs - 86_400_000), utcTime(nowMs + 86_400_000)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = sequence(tbs, sha256WithRsa, der(0x03, Buffer.from([0x00]), signature));
  const base64 = certificate.toString('base64').replace(/.{64}/g, '$&\n');
  const pem = `-----BEGIN CERTIFICATE-----\n${base64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  // Self-check: Node parses it, it is self-signed by the key, and carries the key.
  const parsed = new X509Certificate(pem);
  if (!parsed.verify(publicKey) || !parsed.publicKey.equals(publicKey)) throw new Error('self-signed certificate does not check out');
  return pem;
}

export interface GoogleStandIn {
  /** Pass as firebase-admin's `httpAgent` app option. */
  agent: Agent;
  /** `host + path` of every request the stand-in answered. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `certificates` (kid → PEM) the way Google does, with a long max-age, and any `extraPaths` (path → JSON body, e.g. App Check's /v1/jwks). */
export async function startGoogleStandIn(
  certificates: Record<string, string>,
  extraPaths: Record<string, unknown> = {},
): Promise<GoogleStandIn> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(`${request.headers.host ?? ''}${request.url ?? ''}`);
    const extra = extraPaths[request.url ?? ''];
    if (extra !== undefined) {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=21600' }).end(JSON.stringify(extra));
      return;
    }
    if (request.url !== GOOGLE_CERTS_PATH) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    response
      .writeHead(200, {
        'content-type': 'application/json; charset=UTF-8',
        'cache-control': 'public, max-age=21600, must-revalidate, no-transform',
      })
      .end(JSON.stringify(certificates));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  /** An https agent whose "TLS" connections are plain TCP to the stand-in. */
  class LoopbackAgent extends Agent {
    createConnection(): Socket {
      return connect(port, '127.0.0.1');
    }
  }
  const agent = new LoopbackAgent({ keepAlive: false });
  return {
    agent,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
