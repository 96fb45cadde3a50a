/**
 * The per-address budget's key (src/http/client-address.ts): IPv4 per address, IPv6 per /64, every
 * spelling of one address the same key, and garbage one shared key.
 */
import { describe, expect, it } from 'vitest';
import { clientAddressKey, UNPARSEABLE_ADDRESS } from '../../src/http/client-address';

describe('clientAddressKey', () => {
  it('IPv4: the address itself', () => {
    expect(clientAddressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey(' 198.51.100.255 ')).toBe('198.51.100.255');
    expect(clientAddressKey('203.0.113.8')).not.toBe(clientAddressKey('203.0.113.7'));
  });

  it('IPv6: every address of one /64 shares a key, whatever its spelling; the next /64 does not', () => {
    const spellings = [
      '2001:db8:aaaa:bbbb::1',
      '2001:0db8:aaaa:bbbb:0000:0000:0000:0001',
      '2001:DB8:AAAA:BBBB:ffff:ffff:ffff:ffff',
      '2001:db8:aaaa:bbbb:1:2:3:4',
      '2001:db8:aaaa:bbbb::',
      '2001:db8:aaaa:bbbb:1::9',
      '2001:db8:aaaa:bbbb:0:0:192.0.2.1',
    ];
    for (const spelling of spellings) expect(clientAddressKey(spelling), spelling).toBe('2001:db8:aaaa:bbbb::/64');
    expect(clientAddressKey('2001:db8:aaaa:bbbc::1')).toBe('2001:db8:aaaa:bbbc::/64');
    expect(clientAddressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientAddressKey('::1')).toBe('0:0:0:0::/64');
    expect(clientAddressKey('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
    expect(clientAddressKey('2001:db8:aaaa:bbbb::1')).not.toBe(clientAddressKey('2001:db8:aaaa:bbbc::1'));
  });

  it('IPv4-mapped IPv6 is the IPv4 address, in either spelling', () => {
    expect(clientAddressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::FFFF:cb00:7107')).toBe('203.0.113.7');
    expect(clientAddressKey('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('absent: no key (no per-address budget, as locally); garbage: one shared fallback key', () => {
    expect(clientAddressKey(undefined)).toBeUndefined();
    expect(clientAddressKey(null)).toBeUndefined();
    const garbage = [
      '',
      'not-an-ip',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.-4',
      '2001:db8::1::2',
      '2001:db8:1:2:3:4:5:6:7',
      '2001:db8:1:2:3:4:5',
      '1:2:3:4:5:6:7:8::',
      '2001:db8:12345::1',
      '[2001:db8::1]',
      'fe80::1%eth0',
      '2001:db8::1.2.3.4.5',
      '1.2.3.4::',
      ':::',
      '203.0.113.7, 198.51.100.2',
      'x'.repeat(100),
    ];
    for (const value of garbage) expect(clientAddressKey(value), JSON.stringify(value)).toBe(UNPARSEABLE_ADDRESS);
  });
});
