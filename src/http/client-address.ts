/**
 * The key of a client's address for the per-address write budget
 * (STREAM_WRITE_IP_LIMITER), from `CF-Connecting-IP`. Pure: no I/O.
 *
 * - IPv4: the address itself, in dotted-quad form.
 * - IPv6: its /64. One subscriber is routinely given a whole /64 (RFC 6177;
 *   SLAAC needs one), so keying the full address would give one client 2^64
 *   budgets. Every textual form of an address (`::` compression, upper or
 *   lower case, leading zeros) gives the same key.
 * - IPv4-mapped IPv6 (`::ffff:192.0.2.1`): the IPv4 address it carries, so
 *   one client does not get a second budget by its other spelling.
 * - Anything else: one shared fallback key. Cloudflare always sends a valid
 *   address; a value that does not parse came from somewhere else, and
 *   every such caller shares one budget instead of minting its own.
 */

/** The key every unparseable address shares. */
export const UNPARSEABLE_ADDRESS = 'unparseable';

/** undefined when the header is absent (a request that did not come through Cloudflare's edge, e.g. local). */
export function clientAddressKey(header: string | null | undefined): string | undefined {
  if (header === undefined || header === null) return undefined;
  const text = header.trim();
  const v4 = parseIpv4(text);
  if (v4) return v4.join('.');
  const v6 = parseIpv6(text);
  if (!v6) return UNPARSEABLE_ADDRESS;
  if (isIpv4Mapped(v6)) return [v6[6]! >> 8, v6[6]! & 0xff, v6[7]! >> 8, v6[7]! & 0xff].join('.');
  return `${v6
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** Four octets, or undefined. Leading zeros are refused: some parsers read them as octal. */
function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    octets.push(octet);
  }
  return octets;
}

/** Eight 16-bit groups, or undefined. No zone ids (`%eth0`) and no brackets: Cloudflare sends neither. */
function parseIpv6(text: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  // `::` stands for one or more zero groups.
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...Array<number>(missing).fill(0), ...tail];
}

/** The groups of one side of `::` (an empty side has none); a dotted IPv4 tail counts as two. */
function groupsOf(side: string, mayEndInIpv4: boolean): number[] | undefined {
  if (side === '') return [];
  const parts = side.split(':');
  const groups: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (index === parts.length - 1 && mayEndInIpv4 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (!v4) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/** `::ffff:0:0/96`. */
function isIpv4Mapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
}
