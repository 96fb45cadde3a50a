import { describe, expect, it } from 'vitest';
import { flag, httpUrl, splitList, wholeNumber } from '../../src/config/parse';

function collect() {
  const problems: string[] = [];
  return { problems, fail: (setting: string, problem: string) => void problems.push(`${setting} ${problem}`) };
}

describe('setting parsers', () => {
  it('wholeNumber takes digits within bounds and names the setting otherwise', () => {
    const { problems, fail } = collect();
    expect(wholeNumber(' 42 ', 'N', 0, 100, fail)).toBe(42);
    expect(problems).toEqual([]);
    for (const bad of ['-1', '101', '1.5', '1e3', '', 'ten']) expect(wholeNumber(bad, 'N', 0, 100, fail)).toBe(0);
    expect(problems).toHaveLength(6);
    expect(problems.every((p) => p === 'N must be a whole number from 0 to 100')).toBe(true);
  });

  it('flag knows true/false spellings and refuses anything else', () => {
    const { problems, fail } = collect();
    expect(['true', 'TRUE', '1', 'yes'].map((v) => flag(v, 'F', fail))).toEqual([true, true, true, true]);
    expect(['false', '0', 'no', ''].map((v) => flag(v, 'F', fail))).toEqual([false, false, false, false]);
    expect(problems).toEqual([]);
    expect(flag('maybe', 'F', fail)).toBe(false);
    expect(problems).toEqual(['F must be true or false']);
  });

  it('splitList trims and drops empty entries', () => {
    expect(splitList(' a, b ,,c ,')).toEqual(['a', 'b', 'c']);
    expect(splitList('')).toEqual([]);
  });

  it('httpUrl keeps http(s) URLs without a trailing slash and refuses others', () => {
    const { problems, fail } = collect();
    expect(httpUrl('https://example.com/base/', 'U', fail)).toBe('https://example.com/base');
    expect(httpUrl('http://127.0.0.1:9099', 'U', fail)).toBe('http://127.0.0.1:9099');
    for (const bad of ['ftp://x', 'not a url', 'https://x/?q=1', 'https://x/#f']) expect(httpUrl(bad, 'U', fail)).toBe('');
    expect(problems).toHaveLength(4);
  });
});
