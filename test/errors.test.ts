import { describe, expect, it } from 'vitest';
import { AppError, CALLABLE_HTTP_STATUS, toAppError } from '../src/errors';

describe('AppError', () => {
  it('spells every code for both protocols: a REST status and a callable status with its HTTP status', () => {
    const codes = [
      'missing_authorization',
      'invalid_token',
      'tenant_not_allowed',
      'user_deleted',
      'registry_unavailable',
      'rate_limited',
      'app_check_failed',
      'stream_unavailable',
      'internal',
    ] as const;
    for (const code of codes) {
      const error = new AppError(code, 'message');
      expect(error.httpStatus, code).toBeGreaterThanOrEqual(400);
      expect(Object.keys(CALLABLE_HTTP_STATUS), code).toContain(error.callableStatus);
      expect(error.callableHttpStatus, code).toBeGreaterThanOrEqual(400);
      expect(error.title, code).not.toBe('');
    }
    expect(new AppError('rate_limited', 'x')).toMatchObject({ httpStatus: 429, callableStatus: 'RESOURCE_EXHAUSTED' });
    expect(new AppError('user_deleted', 'x')).toMatchObject({ httpStatus: 410, callableStatus: 'FAILED_PRECONDITION' });
    expect(new AppError('payload_too_large', 'x').callableHttpStatus).toBe(413);
  });

  it('anything else is internal, with the original kept only as the cause', () => {
    const original = new Error('secret detail');
    const wrapped = toAppError(original);
    expect(wrapped).toMatchObject({ code: 'internal', message: 'Internal error', cause: original });
    const known = new AppError('not_found', 'x');
    expect(toAppError(known)).toBe(known);
  });

  it('D1 failing is the registry being unavailable (503, Retry-After), not internal, on every route', () => {
    const storage = toAppError(new Error('D1_ERROR: Network connection lost.'));
    expect(storage).toMatchObject({ code: 'registry_unavailable', httpStatus: 503, callableStatus: 'UNAVAILABLE' });
    expect(storage.headers['Retry-After']).toBe('5');
    expect(storage.message).not.toContain('Network connection lost');
    expect(toAppError(new Error('not D1_ERROR at the start')).code).toBe('internal');
  });
});
