/**
 * ID tokens as the Firebase Auth emulator mints them (alg none), for end-to-end tests that need one the
 * emulator would not issue now: an expired one, say.
 */

/** An unsigned ID token for `uid`, issued `shiftSeconds` from now (negative: in the past), valid for an hour from then. */
export function unsignedIdToken(uid: string, projectId: string, shiftSeconds: number): string {
  const iat = Math.floor(Date.now() / 1000) + shiftSeconds;
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = {
    iss: `https://securetoken.google.com/${projectId}`,
    aud: projectId,
    auth_time: iat,
    user_id: uid,
    sub: uid,
    iat,
    exp: iat + 3600,
    firebase: { sign_in_provider: 'password', identities: {} },
  };
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}
