/**
 * A failed Stream API call. `status` is the HTTP status (0 when no answer
 * arrived: network error or timeout); `code` and `streamMessage` come from
 * Stream's JSON error body when it had one.
 */
export class StreamApiError extends Error {
  override readonly name = 'StreamApiError';
  readonly operation: string;
  readonly status: number;
  readonly code: number | undefined;
  readonly streamMessage: string | undefined;

  constructor(operation: string, status: number, detail: { code?: number; message?: string; cause?: unknown }) {
    const what = status === 0 ? 'no response' : `HTTP ${status}${detail.code === undefined ? '' : `, code ${detail.code}`}`;
    super(`Stream ${operation} failed (${what})`, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.operation = operation;
    this.status = status;
    this.code = detail.code;
    this.streamMessage = detail.message;
  }

  /**
   * Stream's own "does not exist" answer: error code 16, or a 404 with Stream's
   * JSON error body. A bare 404 (a wrong STREAM_BASE_URL, a proxy's HTML page)
   * is not proof that a user is gone.
   */
  get isNotFound(): boolean {
    return this.code === 16 || (this.status === 404 && this.code !== undefined);
  }
}

/** Reads Stream's error body defensively: edge rate-limit replies are not always JSON. */
export async function streamErrorFrom(operation: string, response: Response): Promise<StreamApiError> {
  let code: number | undefined;
  let message: string | undefined;
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown } | null;
    if (body && typeof body.code === 'number') code = body.code;
    if (body && typeof body.message === 'string') message = body.message.slice(0, 500);
  } catch {
    // not JSON: the status alone says enough
  }
  return new StreamApiError(operation, response.status, { code, message });
}
