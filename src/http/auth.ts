import { AppError } from '../errors';
import { bearerCredentials } from './bearer';
import type { FirebaseClaims, IdTokenVerifier, VerifyContext } from '../firebase/verify-id-token';

/**
 * Reads `Authorization: Bearer <Firebase ID token>` and verifies the token.
 * No header at all is `missing_authorization` (the callable protocol answers
 * it with FAILED_PRECONDITION, as the original did); any other scheme, an
 * empty token or a bad token is `invalid_token`.
 */
export async function authenticate(
  request: Request,
  verify: IdTokenVerifier,
  waitUntil: VerifyContext['waitUntil'],
): Promise<FirebaseClaims> {
  const token = bearerCredentials(request.headers.get('Authorization'));
  if (token === undefined) {
    throw new AppError('missing_authorization', 'The request has no Authorization header; send "Bearer <Firebase ID token>"');
  }
  if (token === null) throw new AppError('invalid_token', 'Authorization must be "Bearer <Firebase ID token>"');
  return verify(token, { requestUrl: request.url, waitUntil });
}
