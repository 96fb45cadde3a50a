/**
 * Defaults live in src/config/defaults.ts. This fails when the configuration
 * tables (docs/configuration.md), .dev.vars.example or wrangler.toml say otherwise.
 */
import { describe, expect, it } from 'vitest';
import devVarsExample from '../../.dev.vars.example?raw';
import configurationDoc from '../../docs/configuration.md?raw';
import wranglerToml from '../../wrangler.toml?raw';
import envSource from '../../src/env.ts?raw';
import { DEFAULTS } from '../../src/config/defaults';

/** docs/configuration.md table rows: | `NAME` | kind | default | meaning | */
function documentedDefaults(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of configurationDoc.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`([A-Z][A-Z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (name && cells.length >= 5) rows.set(name, cells[3]!);
  }
  return rows;
}

describe('defaults are written once', () => {
  const settings = Object.entries(DEFAULTS);

  it('docs/configuration.md states every default as the code has it', () => {
    const rows = documentedDefaults();
    for (const [name, value] of settings) {
      const cell = rows.get(name);
      expect(cell, `docs/configuration.md has no row for ${name}`).toBeDefined();
      if (value === '') expect(cell, name).toMatch(/^empty/);
      else expect(cell, name).toBe(`\`${value}\``);
    }
  });

  it('docs/configuration.md has a row for every setting the Worker reads (src/env.ts), defaulted or not', () => {
    const rows = documentedDefaults();
    const settings = [...envSource.matchAll(/^\s+([A-Z][A-Z0-9_]+)\?: string;/gm)].map((match) => match[1]!);
    expect(settings).toContain('ALLOW_AUTH_EMULATOR');
    for (const name of settings) expect(rows.has(name), `docs/configuration.md has no row for ${name}`).toBe(true);
  });

  it('.dev.vars.example shows the same defaults in its commented lines', () => {
    const lines = new Map(
      devVarsExample
        .split('\n')
        .map((line) => /^#\s*([A-Z][A-Z0-9_]+)=(.*)$/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => [match[1]!, match[2]!] as const),
    );
    for (const [name, value] of settings) {
      if (lines.has(name)) expect(lines.get(name), name).toBe(value);
    }
    expect([...lines.keys()].filter((name) => name in DEFAULTS).length).toBeGreaterThan(10);
  });

  it('wrangler.toml sets only what a deployer must, and names the rest in a comment', () => {
    const vars = wranglerToml.slice(wranglerToml.indexOf('[vars]'), wranglerToml.indexOf('[[', wranglerToml.indexOf('[vars]')));
    const assigned = [...vars.matchAll(/^([A-Z][A-Z0-9_]+)\s*=/gm)].map((match) => match[1]);
    expect(assigned).toEqual(['FIREBASE_PROJECT_ID', 'STREAM_API_KEY']);
    for (const [name] of settings) expect(vars, name).toContain(name);
  });
});
