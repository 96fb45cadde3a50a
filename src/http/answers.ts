/**
 * The answers' shapes on the wire that the client (client/index.ts) reads,
 * for it to import as types: this module imports nothing but other such
 * types, so the client stays dependency-free at run time.
 */
export type { SelfDeleteAnswer } from '../reconcile/self-delete-answer';

/** The revoke routes' answer (`POST /v1/token/revoke`, the `revokeStreamUserToken` callable's result). */
export interface RevokeAnswer {
  /** ISO 8601: Stream refuses every token of the user issued before this. */
  revoked_before: string;
}
