import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors';
import { answeringStreamFailures, retryAfterSeconds, USER_WRITES } from '../../src/stream/answers';
import { StreamApiError } from '../../src/stream/errors';
import { StreamRestClient } from '../../src/stream/rest-client';
import { StreamTokenSigner } from '../../src/stream/tokens';
import { StreamBusyError } from '../../src/stream/user-writer';

const NOW = 1_800_000_000_000;

/** A client that has seen one answer to `operation` with Stream's rate-limit headers. */
async function clientAfter(operation: 'upsertUsers' | 'queryUsers', resetInSeconds: number): Promise<StreamRestClient> {
  const headers = {
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': String(NOW / 1000 + resetInSeconds),
    'Content-Type': 'application/json',
  };
  const stream = new StreamRestClient({
    baseUrl: 'http://127.0.0.1:1',
    apiKey: 'key',
    signer: new StreamTokenSigner('secret'),
    now: () => NOW,
    fetch: async () => new Response(JSON.stringify({ users: {} }), { headers }),
  });
  if (operation === 'upsertUsers') await stream.upsertUsers([{ id: 'a' }]);
  else await stream.queryUsers({ id: { $in: ['a'] } });
  return stream;
}

async function answerOf(error: unknown, stream?: StreamRestClient): Promise<AppError> {
  try {
    await answeringStreamFailures(() => Promise.reject(error), stream);
  } catch (answer) {
    return answer as AppError;
  }
  throw new Error('no answer');
}

describe('Stream failures as answers', () => {
  it("Retry-After is Stream's own reset for the first operation asked about whose window is known, else a minute", async () => {
    expect(retryAfterSeconds(await clientAfter('upsertUsers', 17), USER_WRITES, NOW)).toBe(17);
    expect(retryAfterSeconds(await clientAfter('queryUsers', 9), USER_WRITES, NOW)).toBe(9);
    expect(retryAfterSeconds(await clientAfter('queryUsers', 9), ['upsertUsers'], NOW)).toBe(60); // only the operations asked about
    expect(retryAfterSeconds(await clientAfter('upsertUsers', 2), ['upsertUsers'], NOW + 1_900)).toBe(1); // 0.1 s left: rounded up
    expect(retryAfterSeconds(undefined, USER_WRITES, NOW)).toBe(60);
  });

  it('a 429 or a spent budget is 503 stream_unavailable with Retry-After; any other failure 502 stream_failed; the rest passes through', async () => {
    const limited = await answerOf(new StreamApiError('upsertUsers', 429, { code: 9 }), undefined);
    expect([limited.code, limited.httpStatus, limited.headers['Retry-After']]).toEqual(['stream_unavailable', 503, '60']);
    const busy = await answerOf(new StreamBusyError(12));
    expect([busy.code, busy.headers['Retry-After']]).toEqual(['stream_unavailable', '12']);
    const failed = await answerOf(new StreamApiError('queryUsers', 500, { code: -1, message: 'secret detail' }));
    expect([failed.code, failed.httpStatus, failed.message]).toEqual(['stream_failed', 502, 'Stream request failed (status 500, code -1)']);
    expect((await answerOf(new StreamApiError('queryUsers', 0, {}))).message).toBe('Stream request failed (no response)');
    const other = new TypeError('not Stream');
    expect(await answerOf(other)).toBe(other);
  });
});
