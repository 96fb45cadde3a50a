/**
 * Every setting's default, in one place. docs/configuration.md
 * and .dev.vars.example must say the same (test/config/defaults.test.ts
 * fails when they drift); wrangler.toml sets only what a deployer must.
 */
export const DEFAULTS = {
  STREAM_BASE_URL: 'https://chat.stream-io-api.com',
  FIREBASE_JWKS_URL: 'https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com',
  STREAM_TOKEN_TTL_SECONDS: '3600',
  STREAM_USER_FIELDS: 'name,image',
  STREAM_PROFILE_CACHE_SECONDS: '3600',
  CORS_ALLOWED_ORIGINS: '',
  FIREBASE_TENANT_IDS: '',
  STREAM_ROLE_CLAIM: '',
  STREAM_ALLOWED_ROLES: 'user',
  STREAM_TEAMS_CLAIM: '',
  STREAM_WRITE_LIMIT_PERIOD_SECONDS: '60',
  APP_CHECK: 'off',
  APP_CHECK_APP_IDS: '',
  APP_CHECK_JWKS_URL: 'https://firebaseappcheck.googleapis.com/v1/jwks',
  FIREBASE_CHECK_REVOKED: 'false',
  FIREBASE_CHECK_REVOKED_CACHE_SECONDS: '60',
  FIREBASE_ANONYMOUS: 'allow',
  FIREBASE_IDENTITY_TOOLKIT_URL: 'https://identitytoolkit.googleapis.com',
  STREAM_DELETE_MODE: 'soft',
  RECONCILE_DRY_RUN: 'false',
  RECONCILE_BATCH_SIZE: '100',
  RECONCILE_MAX_BATCHES: '10',
  RECONCILE_MAX_DELETES: '50',
  RECONCILE_DELETE_INTERVAL_MS: '500',
  RECONCILE_MAX_MISSING_PERCENT: '50',
  RECONCILE_TASK_WAIT_MS: '2000',
  RECONCILE_QUEUE_BATCHES_PER_RUN: '2500',
  GOOGLE_OIDC_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
} as const;
