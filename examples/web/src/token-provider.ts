import type { Auth } from 'firebase/auth';

/** What POST /v1/token answers. */
export interface TokenResponse {
  token: string;
  user_id: string;
  api_key: string;
  expires_at: string | null;
}

/**
 * A Stream `tokenProvider`: the `() => Promise<string>` that
 * `StreamChat#connectUser(user, tokenProvider)` takes and calls again when a
 * token expires. Each call exchanges the current Firebase ID token (refreshed
 * by the Firebase SDK as needed) for a fresh Stream token.
 */
export function createTokenProvider(workerUrl: string, auth: Auth, onToken?: (response: TokenResponse) => void): () => Promise<string> {
  return async () => {
    const user = auth.currentUser;
    if (!user) throw new Error('Sign in first');
    const response = await fetch(`${workerUrl}/v1/token`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await user.getIdToken()}` },
    });
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { detail?: string };
      throw new Error(`Token request failed (${response.status}): ${problem.detail ?? response.statusText}`);
    }
    const body = (await response.json()) as TokenResponse;
    onToken?.(body);
    return body.token;
  };
}
