/**
 * What the self-service delete answers (`POST /v1/users/me/delete`, the
 * `deleteStreamUser` callable's result). Its own module, importing nothing,
 * so the client (client/index.ts) can type its result with it and stay free
 * of the Worker's code.
 */
export type SelfDeleteAnswer =
  | { deleted: true; completed: boolean }
  | { deleted: false; reason: 'not_registered' | 'firebase_account_exists' | 'unconfirmed' | 'dry_run' | 'failed' };
