// The floor plus what no Worker that verifies tokens can skip on a fresh isolate: one read of the key set
// from the data centre's cache (the Cache API, as src/firebase/key-set-cache.ts reads it) and the RSA key's
// import. bench/cold-start.mjs uses it to tell what the platform charges for a first request from what this
// Worker's own code costs.
export default {
  async fetch(request, env) {
    await request.text();
    const hit = await caches.default.match(new Request(env.JWKS_URL));
    const set = hit ? await hit.json() : { keys: [] };
    const jwk = set.keys?.[0];
    if (jwk) await crypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
    return new Response(JSON.stringify({ result: 'floor', cached: Boolean(jwk) }), { headers: { 'Content-Type': 'application/json' } });
  },
};
