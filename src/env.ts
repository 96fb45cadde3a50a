/**
 * The Worker's bindings, as declared in wrangler.toml (vars) and set with
 * `wrangler secret put` (secrets). Every value arrives as a string or is
 * missing; src/config.ts turns them into a validated Config once per isolate.
 */
export interface Env {
  FIREBASE_PROJECT_ID?: string;
  STREAM_API_KEY?: string;
  /** secret */
  STREAM_API_SECRET?: string;
  STREAM_BASE_URL?: string;
  FIREBASE_JWKS_URL?: string;
  STREAM_TOKEN_TTL_SECONDS?: string;
  STREAM_USER_FIELDS?: string;
  CORS_ALLOWED_ORIGINS?: string;
  /** Local development only: host:port of the Firebase Auth emulator (see src/firebase/emulator.ts). */
  FIREBASE_AUTH_EMULATOR_HOST?: string;
}
