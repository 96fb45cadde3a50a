/**
 * `Authorization: Bearer <credentials>` (RFC 6750 §2.1), read once for the
 * token routes and the admin routes: `undefined` when the header is absent or
 * blank, `null` when it holds anything but one Bearer credential. Each caller
 * decides what those mean for its answer.
 */
export function bearerCredentials(header: string | null | undefined): string | null | undefined {
  const value = header?.trim() ?? '';
  if (value === '') return undefined;
  return /^Bearer[ ]+(\S+)$/i.exec(value)?.[1] ?? null;
}
