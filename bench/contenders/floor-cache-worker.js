// The floor plus the I/O no Worker that verifies tokens and records uids can skip on a fresh isolate: one
// read of the key set from the data centre's cache (the Cache API, as src/firebase/key-set-cache.ts reads
// it), the RSA key's import, and one D1 write of a row (as the registry records a uid it has not seen
// before issuing). bench/cold-start.mjs uses it to tell what the platform charges a first request from what
// this Worker's own code costs.
export default {
  async fetch(request, env) {
    await request.text();
    const hit = await caches.default.match(new Request(env.JWKS_URL));
    // The entry as src/firebase/key-set-cache.ts stores it: { keys: <Google's JWKS>, freshUntil, usableUntil }
    // (signed; the floor reads it without checking the MAC, which is this Worker's own cost, not the platform's).
    const entry = hit ? await hit.json() : {};
    const jwk = entry.keys?.keys?.[0];
    if (jwk) await crypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
    if (env.DB) {
      await env.DB.prepare(
        'INSERT INTO stream_users (uid, tenant, first_seen_at, alive_at) VALUES (?1, ?2, ?3, ?3) ON CONFLICT (uid) DO NOTHING RETURNING tenant',
      )
        .bind(`floor-${crypto.randomUUID()}`, '', Date.now())
        .first();
    }
    return new Response(JSON.stringify({ result: 'floor', cached: Boolean(jwk) }), { headers: { 'Content-Type': 'application/json' } });
  },
};
