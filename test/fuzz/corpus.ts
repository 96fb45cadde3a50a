/**
 * A reproducible corpus of odd Firebase ID tokens for differential fuzzing
 * (test/fuzz/verify-id-token.fuzz.test.ts).
 *
 * Three families:
 * - `directed`: a fixed list of boundary cases, the same for every seed;
 * - signed mutants: a valid token's header and claims given odd values
 *   (types, clock boundaries, look-alike strings, odd encodings), then
 *   signed for real, so each verifier has to judge the content;
 * - corruptions: valid signed tokens damaged after signing (bits, segments,
 *   padding, foreign signatures, size).
 *
 * Everything random comes from one seeded PRNG; times are offsets from `now`.
 */

export type Rng = ReturnType<typeof makeRng>;

/** sfc32 seeded through splitmix32: fast, and the same sequence on every platform. */
export function makeRng(seed: number) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('pick from nothing');
      return items[Math.floor(next() * items.length)] as T;
    },
  };
}

// ---------------------------------------------------------------- JSON with odd corners

/** Omit this field. */
export const ABSENT = Symbol('absent');
/** A verbatim JSON fragment (1e400, -0, escapes, even invalid JSON). */
export class Raw {
  constructor(readonly json: string) {}
}
/** A JSON object as ordered entries: keys may repeat, and may be raw (escaped) text. */
export class Obj {
  constructor(public entries: Array<[string | Raw, unknown]> = []) {}
  static of(record: Record<string, unknown>): Obj {
    return new Obj(Object.entries(record));
  }
  clone(): Obj {
    return new Obj(this.entries.map(([k, v]) => [k, v]));
  }
  get(key: string): unknown {
    return this.entries.find(([k]) => k === key)?.[1];
  }
  /** Replaces every entry named `key` (or appends one). */
  set(key: string, value: unknown): this {
    let seen = false;
    const out: Array<[string | Raw, unknown]> = [];
    for (const [k, v] of this.entries) {
      if (k !== key) out.push([k, v]);
      else if (!seen) {
        out.push([key, value]);
        seen = true;
      }
    }
    if (!seen) out.push([key, value]);
    this.entries = out;
    return this;
  }
  /** Adds a (possibly duplicate) entry, first or last. */
  add(key: string | Raw, value: unknown, first = false): this {
    if (first) this.entries.unshift([key, value]);
    else this.entries.push([key, value]);
    return this;
  }
}

export function toJson(value: unknown): string {
  if (value instanceof Raw) return value.json;
  if (value instanceof Obj) {
    return `{${value.entries
      .filter(([, v]) => v !== ABSENT)
      .map(([k, v]) => `${k instanceof Raw ? k.json : JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') return toJson(Obj.of(value as Record<string, unknown>));
  if (value === undefined || value === ABSENT) return 'null';
  return JSON.stringify(value);
}

/** `"..."` with every character \u-escaped: the same string to a JSON parser. */
export const escapedString = (text: string) =>
  new Raw(`"${Array.from({ length: text.length }, (_, i) => `\\u${text.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`);

// ---------------------------------------------------------------- encoding

const utf8 = new TextEncoder();
export const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
export const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** How a token is to be signed once its two first segments are built. */
export type SignMode = 'rs256' | 'rs256-other-key' | 'none' | 'hs256-cert-pem' | 'hs256-spki-pem' | 'random-bytes';

export interface Spec {
  header: Obj;
  payload: Obj;
  /** Transforms of a segment's JSON text, its UTF-8 bytes, its base64url text, in that order. */
  text: Partial<Record<'header' | 'payload', Array<(json: string) => string>>>;
  bytes: Partial<Record<'header' | 'payload', Array<(bytes: Uint8Array) => Uint8Array>>>;
  b64: Partial<Record<'header' | 'payload', Array<(segment: string) => string>>>;
  sign: SignMode;
  /** Pad the payload (claim `pad`) so the whole token is about this long. */
  targetLength?: number;
  notes: string[];
}

const push = <T>(record: Partial<Record<'header' | 'payload', T[]>>, key: 'header' | 'payload', item: T) => {
  (record[key] ??= []).push(item);
};

function encodeSegment(spec: Spec, which: 'header' | 'payload'): string {
  let text = toJson(spec[which]);
  for (const f of spec.text[which] ?? []) text = f(text);
  let bytes: Uint8Array = utf8.encode(text);
  for (const f of spec.bytes[which] ?? []) bytes = f(bytes);
  let segment = b64url(bytes);
  for (const f of spec.b64[which] ?? []) segment = f(segment);
  return segment;
}

/** RS256 signatures of a 2048-bit key are 342 base64url characters. */
const SIGNATURE_LENGTH = 342;

/** `header.payload`, with the `pad` claim sized to hit `targetLength` as near as base64 allows. */
export function signingInput(spec: Spec): string {
  const header = encodeSegment(spec, 'header');
  if (spec.targetLength === undefined) return `${header}.${encodeSegment(spec, 'payload')}`;
  let padLength = 0;
  let best = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    spec.payload.set('pad', 'p'.repeat(padLength));
    const input = `${header}.${encodeSegment(spec, 'payload')}`;
    best = input;
    const missing = spec.targetLength - (input.length + 1 + SIGNATURE_LENGTH);
    if (missing === 0) break;
    padLength = Math.max(0, padLength + Math.round((missing * 3) / 4));
  }
  return best;
}

// ---------------------------------------------------------------- the context and value pools

export interface Context {
  now: number; // Unix seconds
  projectId: string;
  issuer: string;
  kid: string;
  /** A second name Google's key set gives the same key: all digits, to probe numeric `kid`s. */
  numericKid: string;
  /** The kid of a second key (tokens here are signed with the first). */
  otherKid: string;
}

export function baseSpec(ctx: Context, rng?: Rng): Spec {
  const uid = rng ? `uid-${rng.int(1e9).toString(36)}${'x'.repeat(rng.int(20))}` : 'uid-fuzz-base';
  return {
    header: Obj.of({ alg: 'RS256', kid: ctx.kid, typ: 'JWT' }),
    payload: Obj.of({
      name: 'Fuzz User',
      picture: 'https://example.test/p.png',
      iss: ctx.issuer,
      aud: ctx.projectId,
      auth_time: ctx.now - 120,
      user_id: uid,
      sub: uid,
      iat: ctx.now - 60,
      exp: ctx.now + 3540,
      email: 'fuzz@example.test',
      email_verified: true,
      firebase: { identities: { email: ['fuzz@example.test'] }, sign_in_provider: 'password' },
    }),
    text: {},
    bytes: {},
    b64: {},
    sign: 'rs256',
    notes: [],
  };
}

const TIME_OFFSETS = [
  -1e9, -86_400, -3601, -3600, -61, -60, -6, -5.5, -5, -2, -1, -0.999, -0.5, -0.001, 0, 0.001, 0.5, 0.999, 1, 1.5, 2, 3, 4, 4.5, 4.999, 5,
  5.001, 5.5, 6, 7, 9, 10, 11, 30, 60, 300, 3599, 3600, 3601, 86_400, 1e6, 1e9,
];

function oddValues(ctx: Context): unknown[] {
  const later = ctx.now + 3600;
  return [
    null,
    true,
    false,
    0,
    -1,
    1,
    0.5,
    1e308,
    -1e308,
    Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER,
    2 ** 31,
    -(2 ** 31),
    2 ** 32,
    new Raw('1e400'),
    new Raw('-1e400'),
    new Raw('-0'),
    new Raw(`${later}.0`),
    new Raw(`${later}e0`),
    new Raw(`${later / 10}E1`),
    new Raw(`${later}000e-3`),
    new Raw(`1${'0'.repeat(400)}`),
    new Raw('9007199254740993'),
    new Raw(`0.${'0'.repeat(400)}1`),
    new Raw('NaN'),
    new Raw('Infinity'),
    new Raw(`+${later}`),
    new Raw(`0${later}`),
    new Raw(`${later}.`),
    new Raw('0x7fffffff'),
    '',
    ' ',
    'NaN',
    'Infinity',
    '-Infinity',
    String(later),
    `${later} `,
    'null',
    'true',
    [],
    [later],
    [later, later],
    {},
    { value: later },
    ctx.now * 1000,
    later * 1000,
    ABSENT,
  ];
}

function pickTime(rng: Rng, ctx: Context): unknown {
  return rng.chance(0.7) ? ctx.now + rng.pick(TIME_OFFSETS) : rng.pick(oddValues(ctx));
}

const HOMOGLYPHS: Record<string, string[]> = {
  a: ['\u0430', '\u0251', '\uff41'],
  c: ['\u0441', '\u217d'],
  e: ['\u0435', '\u0117', '\uff45'],
  o: ['\u043e', '\u03bf', '\u0ed0', '0'],
  p: ['\u0440'],
  s: ['\u0455', '\uff53'],
  i: ['\u0456', '\u0131', '1', 'l'],
  d: ['\u0501', '\u217e'],
  m: ['\u217f', 'rn'],
  u: ['\u057d', '\u03c5'],
  z: ['\u1d22'],
  '-': ['\u2010', '\u2011', '\u2212', '_'],
  '/': ['\u2215', '\u2044', '\\'],
  '.': ['\u2024', '\u3002', ','],
  t: ['\u0442'],
  g: ['\u0261'],
  k: ['\u043a'],
  n: ['\u0578'],
  l: ['1', 'I', '\u04cf'],
};
const INVISIBLES = [' ', '\t', '\n', '\r', '\u00a0', '\u200b', '\u200d', '\ufeff', '\u0000', '\u2028', '\u0301'];

/** A near-miss of `text`: case, whitespace, look-alikes, edits, normalisation. */
function nearMiss(rng: Rng, text: string): string {
  const at = rng.int(text.length + 1);
  switch (rng.int(9)) {
    case 0: {
      const i = rng.int(text.length);
      const ch = text[i] ?? 'x';
      const flipped = ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase();
      return text.slice(0, i) + flipped + text.slice(i + 1);
    }
    case 1:
      return text.slice(0, at) + rng.pick(INVISIBLES) + text.slice(at);
    case 2: {
      const positions = [...text].map((ch, i) => (HOMOGLYPHS[ch.toLowerCase()] ? i : -1)).filter((i) => i >= 0);
      if (positions.length === 0) return text + '\u0435';
      const i = rng.pick(positions);
      return text.slice(0, i) + rng.pick(HOMOGLYPHS[text[i]!.toLowerCase()]!) + text.slice(i + 1);
    }
    case 3:
      return text.slice(0, Math.max(0, at - 1)) + text.slice(at);
    case 4:
      return text.slice(0, at) + (text[at] ?? '/') + text.slice(at);
    case 5:
      return rng.pick([
        `${text}/`,
        `${text}.`,
        `${text}#`,
        `${text}?`,
        `${text}%00`,
        ` ${text}`,
        `${text} `,
        text.toUpperCase(),
        `${text}${text}`,
      ]);
    case 6:
      return text.slice(0, at) + encodeURIComponent(text[at] ?? '').replace(/^$/, '%20') + text.slice(at + 1);
    case 7:
      return text.normalize('NFD') + '\u0301';
    default:
      return text.slice(0, at);
  }
}

function pickString(rng: Rng, ctx: Context, exact: string, alternatives: unknown[]): unknown {
  const roll = rng.next();
  if (roll < 0.15) return exact;
  if (roll < 0.22) return escapedString(exact);
  if (roll < 0.65) return nearMiss(rng, exact);
  if (roll < 0.8) return rng.pick(alternatives);
  return rng.pick([
    null,
    true,
    0,
    1,
    [],
    [exact],
    [exact, exact],
    [exact, 'other'],
    ['other', exact],
    {},
    { value: exact },
    ABSENT,
    '',
    new Raw('1e400'),
    ctx.now,
  ]);
}

function issuerAlternatives(ctx: Context): string[] {
  const p = ctx.projectId;
  return [
    `http://securetoken.google.com/${p}`,
    `https://securetoken.google.com/${p}/`,
    `https://securetoken.google.com//${p}`,
    `https://securetoken.google.com/`,
    `https://securetoken.google.com`,
    `securetoken.google.com/${p}`,
    `https://securetoken.google.com:443/${p}`,
    `https://SECURETOKEN.google.com/${p}`,
    `https://session.firebase.google.com/${p}`,
    `https://securetoken.google.com/${p}-other`,
    `https://securetoken.google.com/${p}?x=1`,
    `https://securetoken.google.com.evil.test/${p}`,
    `https://evil.test/securetoken.google.com/${p}`,
    `https://accounts.google.com`,
    `https://securetoken.google.com/${p.toUpperCase()}`,
    `https://securetoken.google.com/${p}\u0000`,
    p,
  ];
}
function audienceAlternatives(ctx: Context): string[] {
  const p = ctx.projectId;
  return [
    `${p}/`,
    ` ${p}`,
    `${p} `,
    p.toUpperCase(),
    `${p}-other`,
    `projects/${p}`,
    `https://securetoken.google.com/${p}`,
    `${p}\u0000`,
    `${p}.firebaseapp.com`,
    `${p}.cloudfunctions.net/`,
    'https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit',
    'demo-other',
  ];
}
function subjects(rng: Rng): unknown[] {
  return [
    '',
    ' ',
    '\u0000',
    'a',
    'a'.repeat(127),
    'a'.repeat(128),
    'a'.repeat(129),
    'a'.repeat(1000),
    '\u{1f600}'.repeat(63),
    '\u{1f600}'.repeat(64),
    '\u{1f600}'.repeat(65),
    'é'.repeat(128),
    'e\u0301'.repeat(64),
    'e\u0301'.repeat(65),
    new Raw('"\\ud800"'),
    new Raw(`"${'\\ud83d\\ude00'.repeat(64)}"`),
    '../admin',
    'uid with spaces',
    'user\nname',
    '\u202eevil',
    'admin',
    `uid-${rng.int(1000)}`,
    0,
    123,
    -1,
    1.5,
    true,
    false,
    null,
    [],
    ['uid'],
    {},
    { uid: 'x' },
    ABSENT,
    new Raw('1e400'),
  ];
}

// ---------------------------------------------------------------- mutators (applied before signing)

export interface Mutator {
  name: string;
  weight: number;
  apply(spec: Spec, rng: Rng, ctx: Context): void;
}

const note = (spec: Spec, text: string) => spec.notes.push(text);
const show = (value: unknown) => (value === ABSENT ? 'absent' : toJson(value).slice(0, 60));

function setClaim(spec: Spec, where: 'header' | 'payload', key: string, value: unknown): void {
  spec[where].set(key, value);
  note(spec, `${where === 'header' ? 'header.' : ''}${key}=${show(value)}`);
}

/** Replaces a marker inside the JSON bytes (so the JSON text stays otherwise intact). */
function spliceMarker(bytes: Uint8Array, marker: string, replacement: number[]): Uint8Array {
  const hay = Buffer.from(bytes);
  const at = hay.indexOf(marker);
  if (at < 0) return bytes;
  return Buffer.concat([hay.subarray(0, at), Buffer.from(replacement), hay.subarray(at + marker.length)]);
}

/**
 * A segment with one character too many (length % 4 === 1): JSON padded with
 * trailing spaces to a multiple of 3 bytes, then one base64url character
 * appended, which lenient decoders (Node's Buffer) drop and strict ones refuse.
 */
function loneExtraCharacter(spec: Spec, where: 'header' | 'payload', extra = 'A'): void {
  push(spec.text, where, (json) => json + ' '.repeat((3 - (Buffer.byteLength(json) % 3)) % 3));
  push(spec.b64, where, (segment) => (segment.length % 4 === 0 ? segment + extra : segment));
}

const BAD_UTF8: number[][] = [
  [0xff],
  [0xc3, 0x28],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80],
  [0xe9],
];

export const MUTATORS: Mutator[] = [
  { name: 'claims.exp', weight: 4, apply: (s, r, c) => setClaim(s, 'payload', 'exp', pickTime(r, c)) },
  { name: 'claims.iat', weight: 4, apply: (s, r, c) => setClaim(s, 'payload', 'iat', pickTime(r, c)) },
  { name: 'claims.nbf', weight: 3, apply: (s, r, c) => setClaim(s, 'payload', 'nbf', pickTime(r, c)) },
  { name: 'claims.auth_time', weight: 3, apply: (s, r, c) => setClaim(s, 'payload', 'auth_time', pickTime(r, c)) },
  { name: 'claims.iss', weight: 4, apply: (s, r, c) => setClaim(s, 'payload', 'iss', pickString(r, c, c.issuer, issuerAlternatives(c))) },
  {
    name: 'claims.aud',
    weight: 4,
    apply: (s, r, c) => setClaim(s, 'payload', 'aud', pickString(r, c, c.projectId, audienceAlternatives(c))),
  },
  {
    name: 'claims.sub',
    weight: 4,
    apply: (s, r) => {
      const sub = r.pick(subjects(r));
      setClaim(s, 'payload', 'sub', sub);
      if (r.chance(0.5)) s.payload.set('user_id', sub);
    },
  },
  {
    name: 'claims.event_type',
    weight: 1,
    apply: (s, r) => {
      setClaim(
        s,
        'payload',
        'event_type',
        r.pick(['beforeSendSms', 'beforeSendEmail', 'beforeCreate', 'beforeSignIn', 'beforesendsms', '', null, 1]),
      );
      if (r.chance(0.7)) setClaim(s, 'payload', 'sub', r.pick(subjects(r)));
    },
  },
  {
    name: 'claims.remove',
    weight: 2,
    apply: (s, r) => {
      const key = r.pick(['iss', 'aud', 'sub', 'exp', 'iat', 'auth_time', 'user_id', 'firebase', 'email']);
      setClaim(s, 'payload', key, ABSENT);
    },
  },
  {
    name: 'claims.extra',
    weight: 2,
    apply: (s, r, c) => {
      const key = r.pick([
        'firebase',
        'user_id',
        'email',
        'email_verified',
        'tenant',
        'admin',
        'roles',
        'd',
        'v',
        'uid',
        'claims',
        'jti',
        'cnf',
        'nonce',
        'azp',
        'scope',
        '',
        ' ',
        '\u0000',
        'sub ',
        'Sub',
        'AUD',
        'exp\u200b',
      ]);
      const value = r.pick([
        ...oddValues(c),
        { tenant: 'evil' },
        { sign_in_provider: 'custom' },
        'x'.repeat(r.int(3000)),
        { d: { uid: 'x' } },
        new Raw(`${'['.repeat(500)}${']'.repeat(500)}`),
        new Raw(`${'{"a":'.repeat(300)}1${'}'.repeat(300)}`),
      ]);
      setClaim(s, 'payload', key, value);
    },
  },
  {
    name: 'claims.proto',
    weight: 1,
    apply: (s, r, c) => {
      const key = r.pick(['aud', 'iss', 'sub', 'exp', 'iat']);
      if (r.chance(0.6)) s.payload.set(key, ABSENT);
      s.payload.add(
        r.pick(['__proto__', 'constructor', 'prototype']),
        Obj.of({ aud: c.projectId, iss: c.issuer, sub: 'proto-uid', exp: c.now + 3600, iat: c.now - 1 }),
      );
      note(s, `__proto__-style claim carrying ${key}`);
    },
  },
  {
    name: 'claims.duplicate',
    weight: 2,
    apply: (s, r, c) => {
      const key = r.pick(['aud', 'iss', 'sub', 'exp', 'iat', 'auth_time', 'nbf']);
      const value = r.pick([ABSENT, 'other', c.now - 10, c.now + 100_000, null, '', c.projectId, c.issuer, [c.projectId]]);
      const first = r.chance(0.5);
      if (value !== ABSENT) s.payload.add(key, value, first);
      note(s, `duplicate "${key}" ${first ? 'before' : 'after'} = ${show(value)}`);
    },
  },
  {
    name: 'header.alg',
    weight: 3,
    apply: (s, r) => {
      const alg = r.pick([
        'RS256',
        'rs256',
        'Rs256',
        'RS256 ',
        ' RS256',
        'RS256\u0000',
        'R\u0405256',
        'none',
        'None',
        'NONE',
        'HS256',
        'HS512',
        'RS384',
        'RS512',
        'PS256',
        'ES256',
        'EdDSA',
        'RSA-OAEP',
        '',
        null,
        ABSENT,
        ['RS256'],
        {},
        256,
        true,
        escapedString('RS256'),
      ]);
      setClaim(s, 'header', 'alg', alg);
      if (alg === 'none' || alg === 'NONE' || alg === 'None') s.sign = r.pick<SignMode>(['none', 'rs256']);
      if (alg === 'HS256') s.sign = r.pick<SignMode>(['hs256-cert-pem', 'hs256-spki-pem', 'rs256']);
    },
  },
  {
    name: 'header.kid',
    weight: 4,
    apply: (s, r, c) =>
      setClaim(
        s,
        'header',
        'kid',
        r.pick([
          c.kid,
          c.numericKid,
          Number(c.numericKid),
          [c.kid],
          [c.numericKid],
          [c.kid, 'x'],
          { kid: c.kid },
          c.otherKid,
          ABSENT,
          null,
          '',
          0,
          false,
          true,
          'unknown',
          c.kid.toUpperCase(),
          `${c.kid} `,
          ` ${c.kid}`,
          `${c.kid}\u0000`,
          c.kid.slice(0, -1),
          escapedString(c.kid),
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          '../../etc/passwd',
          'x'.repeat(2000),
          Number.NaN,
        ]),
      ),
  },
  {
    name: 'header.typ',
    weight: 2,
    apply: (s, r) => setClaim(s, 'header', 'typ', r.pick(['JWT', 'jwt', 'JOSE', 'at+jwt', 'JWS', '', null, 1, ['JWT'], {}, ABSENT])),
  },
  {
    name: 'header.crit',
    weight: 2,
    apply: (s, r) => {
      setClaim(s, 'header', 'crit', r.pick([[], ['exp'], ['b64'], ['x-unknown'], 'exp', null, {}, [1], false, '', 0]));
      if (r.chance(0.3)) s.header.set('b64', false);
    },
  },
  {
    name: 'header.extra',
    weight: 2,
    apply: (s, r) => {
      const [key, value] = r.pick<[string, unknown]>([
        ['jku', 'https://evil.test/keys'],
        ['x5u', 'https://evil.test/cert'],
        ['jwk', { kty: 'RSA', n: 'AQAB', e: 'AQAB' }],
        ['x5c', ['MIIB']],
        ['cty', 'JWT'],
        ['zip', 'DEF'],
        ['enc', 'A128GCM'],
        ['b64', false],
        ['b64', true],
        ['x5t', 'abc'],
        ['kid ', 'x'],
        ['ALG', 'none'],
        ['__proto__', { alg: 'none' }],
        ['iss', 'x'],
        ['nonce', 1],
      ]);
      setClaim(s, 'header', key, value);
    },
  },
  {
    name: 'header.duplicate',
    weight: 2,
    apply: (s, r, c) => {
      const [key, value] = r.pick<[string, unknown]>([
        ['alg', 'none'],
        ['alg', 'HS256'],
        ['alg', 'RS256'],
        ['kid', 'unknown'],
        ['kid', c.kid],
        ['kid', null],
        ['crit', ['exp']],
        ['typ', 'JWT'],
      ]);
      const first = r.chance(0.5);
      s.header.add(key, value, first);
      note(s, `duplicate header "${key}" ${first ? 'before' : 'after'} = ${show(value)}`);
    },
  },
  {
    name: 'header.not-object',
    weight: 1,
    apply: (s, r) => {
      const json = r.pick(['[]', '"RS256"', 'null', '1', 'true', '{}', '[{"alg":"RS256"}]', '""']);
      push(s.text, 'header', () => json);
      note(s, `header JSON = ${json}`);
    },
  },
  {
    name: 'payload.not-object',
    weight: 1,
    apply: (s, r) => {
      const json = r.pick(['[]', '"x"', 'null', '1', 'true', '{}', '[{"sub":"x"}]', '""']);
      push(s.text, 'payload', () => json);
      note(s, `payload JSON = ${json}`);
    },
  },
  {
    name: 'enc.bom',
    weight: 2,
    apply: (s, r) => {
      const where = r.pick(['header', 'payload'] as const);
      const bom = r.pick([
        [0xef, 0xbb, 0xbf],
        [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf],
        [0xfe, 0xff],
        [0xff, 0xfe],
      ]);
      push(s.bytes, where, (b) => Buffer.concat([Buffer.from(bom), b]));
      note(s, `${where} starts with bytes ${Buffer.from(bom).toString('hex')}`);
    },
  },
  {
    name: 'enc.invalid-utf8',
    weight: 2,
    apply: (s, r) => {
      const where = r.pick(['header', 'payload'] as const);
      const bad = r.pick(BAD_UTF8);
      s[where].set(where === 'header' ? 'x' : 'name', '@@BAD@@');
      push(s.bytes, where, (b) => spliceMarker(b, '@@BAD@@', bad));
      note(s, `${where} string holds bytes ${Buffer.from(bad).toString('hex')}`);
    },
  },
  {
    name: 'enc.non-ascii',
    weight: 1,
    apply: (s, r) => {
      const where = r.pick(['header', 'payload'] as const);
      const value = r.pick(['é', 'Straße', '\u{1f600}', '\u202e', '\u0000', 'ÿ', '\u0085', '\u2028']);
      s[where].set(r.pick(['typ', 'x', 'name']), value);
      note(s, `${where} carries ${JSON.stringify(value)} as UTF-8`);
    },
  },
  {
    name: 'enc.whitespace',
    weight: 2,
    apply: (s, r) => {
      const where = r.pick(['header', 'payload'] as const);
      const ws = r.pick([' ', '\n', '\r\n', '\t', '  \n\t ', '\f', '\v', '\u00a0', '\u2028', '\u3000', '\u0000']);
      const how = r.pick(['lead', 'trail', 'pretty', 'inner'] as const);
      push(s.text, where, (json) =>
        how === 'lead'
          ? ws + json
          : how === 'trail'
            ? json + ws
            : how === 'pretty'
              ? json.replace(/([{,])/g, `$1\n${ws}`).replace(/}/g, '\n}')
              : json.replace(/,/g, `${ws},${ws}`),
      );
      note(s, `${where} JSON ${how} whitespace ${JSON.stringify(ws)}`);
    },
  },
  {
    name: 'enc.json-syntax',
    weight: 2,
    apply: (s, r) => {
      const where = r.pick(['header', 'payload'] as const);
      const [label, f] = r.pick<[string, (json: string) => string]>([
        ['trailing comma', (j) => j.replace(/}$/, ',}')],
        ['trailing garbage', (j) => `${j}x`],
        ['two objects', (j) => `${j}{}`],
        ['comment', (j) => `/*c*/${j}`],
        ['single quotes', (j) => j.replace(/"/g, "'")],
        ['unquoted key', (j) => j.replace('"alg"', 'alg').replace('"sub"', 'sub')],
        ['truncated', (j) => j.slice(0, -1)],
        ['raw control char', (j) => j.replace(/"(RS256|demo-fuzz)"/, '"$1\u0001"')],
        ['escaped slash', (j) => j.replace(/\//g, '\\/')],
        ['unicode-escaped keys', (j) => j.replace(/"(alg|kid|aud|iss|sub|exp)":/g, (_m, k: string) => `${escapedString(k).json}:`)],
        ['wrapped in array', (j) => `[${j}]`],
        ['empty', () => ''],
      ]);
      push(s.text, where, f);
      note(s, `${where} JSON: ${label}`);
    },
  },
  {
    name: 'enc.base64',
    weight: 2,
    apply: (s, r) => {
      const where = r.pick(['header', 'payload'] as const);
      if (r.chance(0.25)) {
        loneExtraCharacter(s, where, r.pick([...B64URL_ALPHABET]));
        note(s, `${where} segment: one lone extra character`);
        return;
      }
      const [label, f] = r.pick<[string, (segment: string) => string]>([
        // Changes the unused low bits of the last character: the same bytes when decoded.
        [
          'non-zero trailing bits',
          (seg) => {
            const rest = seg.length % 4;
            if (rest === 0) return seg;
            const last = B64URL_ALPHABET.indexOf(seg.slice(-1));
            const unused = rest === 2 ? 0b1111 : 0b11;
            return seg.slice(0, -1) + B64URL_ALPHABET[(last & ~unused) | (1 + r.int(unused))];
          },
        ],

        ['padding', (seg) => seg + '='.repeat((4 - (seg.length % 4)) % 4 || 1)],
        ['standard alphabet', (seg) => seg.replace(/-/g, '+').replace(/_/g, '/')],
        ['inner whitespace', (seg) => `${seg.slice(0, 4)} ${seg.slice(4)}`],
      ]);
      push(s.b64, where, f);
      note(s, `${where} segment: ${label}`);
    },
  },
  {
    name: 'enc.escapes',
    weight: 2,
    apply: (s, r, c) => {
      for (const key of ['alg', 'kid', 'typ'])
        if (r.chance(0.5) && typeof s.header.get(key) === 'string') s.header.set(key, escapedString(s.header.get(key) as string));
      for (const key of ['iss', 'aud', 'sub'])
        if (r.chance(0.6) && typeof s.payload.get(key) === 'string') s.payload.set(key, escapedString(s.payload.get(key) as string));
      if (r.chance(0.3)) s.payload.set('exp', new Raw(`${(c.now + 3600) * 10}e-1`));
      note(s, 'strings \\u-escaped in JSON');
    },
  },
  {
    name: 'enc.size',
    weight: 1,
    apply: (s, r) => {
      s.targetLength = r.pick([8000, 8189, 8190, 8191, 8192, 8193, 8194, 8195, 8200, 9000, 16_384, 65_536]);
      note(s, `token length ~${s.targetLength}`);
    },
  },
  {
    name: 'sign.other',
    weight: 1,
    apply: (s, r, c) => {
      s.sign = r.pick<SignMode>(['rs256-other-key', 'none', 'hs256-cert-pem', 'hs256-spki-pem', 'random-bytes']);
      if (s.sign === 'rs256-other-key' && r.chance(0.5)) s.header.set('kid', c.otherKid);
      note(s, `signature: ${s.sign}${s.header.get('kid') === c.otherKid ? ' (kid names the other key)' : ''}`);
    },
  },
];

const TOTAL_WEIGHT = MUTATORS.reduce((sum, m) => sum + m.weight, 0);
function pickMutator(rng: Rng): Mutator {
  let roll = rng.next() * TOTAL_WEIGHT;
  for (const m of MUTATORS) {
    roll -= m.weight;
    if (roll < 0) return m;
  }
  return MUTATORS[MUTATORS.length - 1]!;
}

export interface PendingToken {
  category: string;
  note: string;
  input: string;
  sign: SignMode;
}

function finish(category: string, spec: Spec): PendingToken {
  return { category, note: spec.notes.join('; ') || 'valid', input: signingInput(spec), sign: spec.sign };
}

/** A signed mutant: 1 to 3 mutations of a fresh valid spec. */
export function mutant(rng: Rng, ctx: Context): PendingToken {
  const spec = baseSpec(ctx, rng);
  const count = rng.chance(0.6) ? 1 : rng.chance(0.6) ? 2 : 3;
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = pickMutator(rng);
    m.apply(spec, rng, ctx);
    names.push(m.name);
  }
  return finish(count === 1 ? names[0]! : `combo(${count})`, spec);
}

export function validBase(rng: Rng, ctx: Context): PendingToken {
  return finish('valid', baseSpec(ctx, rng));
}

/** Boundary cases every run includes, whatever the seed. */
export function directed(ctx: Context): PendingToken[] {
  const n = ctx.now;
  const cases: Array<[string, (s: Spec) => void]> = [
    ['valid', () => {}],
    ...[-1, 0, 0.5, 1, 2].map((d): [string, (s: Spec) => void] => [
      `exp = now${d >= 0 ? '+' : ''}${d}`,
      (s) => void s.payload.set('exp', n + d),
    ]),
    ['exp absent', (s) => void s.payload.set('exp', ABSENT)],
    ['exp = 1e400 (Infinity)', (s) => void s.payload.set('exp', new Raw('1e400'))],
    ['exp = 1e308', (s) => void s.payload.set('exp', 1e308)],
    ['exp = "<future>" (string)', (s) => void s.payload.set('exp', String(n + 3600))],
    ...[0, 5, 5.5, 6, 10, 3600].map((d): [string, (s: Spec) => void] => [`iat = now+${d}`, (s) => void s.payload.set('iat', n + d)]),
    ['iat absent', (s) => void s.payload.set('iat', ABSENT)],
    ['iat = "now" (string)', (s) => void s.payload.set('iat', String(n))],
    ['iat = 1e400', (s) => void s.payload.set('iat', new Raw('1e400'))],
    ...[5, 6, 3600].map((d): [string, (s: Spec) => void] => [`auth_time = now+${d}`, (s) => void s.payload.set('auth_time', n + d)]),
    ['auth_time = "0" (string)', (s) => void s.payload.set('auth_time', '0')],
    ['auth_time = null', (s) => void s.payload.set('auth_time', null)],
    ...[0, 1].map((d): [string, (s: Spec) => void] => [`nbf = now+${d}`, (s) => void s.payload.set('nbf', n + d)]),
    ['nbf = null', (s) => void s.payload.set('nbf', null)],
    ['aud = [project]', (s) => void s.payload.set('aud', [ctx.projectId])],
    ['iss with trailing slash', (s) => void s.payload.set('iss', `${ctx.issuer}/`)],
    ['sub of 128 chars', (s) => void s.payload.set('sub', 'a'.repeat(128))],
    ['sub of 129 chars', (s) => void s.payload.set('sub', 'a'.repeat(129))],
    ['sub of 64 emoji (128 UTF-16 units)', (s) => void s.payload.set('sub', '\u{1f600}'.repeat(64))],
    ['sub empty', (s) => void s.payload.set('sub', '')],
    ['sub absent, event_type beforeSendSms', (s) => void s.payload.set('sub', ABSENT).set('event_type', 'beforeSendSms')],
    ['sub absent, event_type beforeSendEmail', (s) => void s.payload.set('sub', ABSENT).set('event_type', 'beforeSendEmail')],
    ['kid absent', (s) => void s.header.set('kid', ABSENT)],
    ['kid null', (s) => void s.header.set('kid', null)],
    ['kid ""', (s) => void s.header.set('kid', '')],
    ['kid 0', (s) => void s.header.set('kid', 0)],
    ['kid false', (s) => void s.header.set('kid', false)],
    ['kid numeric (a number naming a key)', (s) => void s.header.set('kid', Number(ctx.numericKid))],
    ['kid [kid]', (s) => void s.header.set('kid', [ctx.kid])],
    ['kid unknown', (s) => void s.header.set('kid', 'unknown')],
    ['kid of the other key', (s) => void s.header.set('kid', ctx.otherKid)],
    ['crit []', (s) => void s.header.set('crit', [])],
    ['crit ["exp"]', (s) => void s.header.set('crit', ['exp'])],
    ['alg none, empty signature', (s) => void ((s.sign = 'none'), s.header.set('alg', 'none'))],
    ['alg HS256 keyed with the certificate PEM', (s) => void ((s.sign = 'hs256-cert-pem'), s.header.set('alg', 'HS256'))],
    ['alg rs256', (s) => void s.header.set('alg', 'rs256')],
    ['typ absent', (s) => void s.header.set('typ', ABSENT)],
    ['header with a UTF-8 BOM', (s) => push(s.bytes, 'header', (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]))],
    ['payload with a UTF-8 BOM', (s) => push(s.bytes, 'payload', (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]))],
    [
      'payload with an invalid UTF-8 byte in a string',
      (s) => {
        s.payload.set('name', '@@BAD@@');
        push(s.bytes, 'payload', (b) => spliceMarker(b, '@@BAD@@', [0xff]));
      },
    ],
    ['header segment with one lone extra base64url character', (s) => loneExtraCharacter(s, 'header')],
    ['payload segment with one lone extra base64url character', (s) => loneExtraCharacter(s, 'payload')],
    ...[8191, 8192, 8193].map((len): [string, (s: Spec) => void] => [`token length ${len}`, (s) => void (s.targetLength = len)]),
    ['token length 65536', (s) => void (s.targetLength = 65_536)],
  ];
  return cases.map(([label, edit]) => {
    const spec = baseSpec(ctx);
    edit(spec);
    spec.notes = [label];
    return finish('directed', spec);
  });
}

// ---------------------------------------------------------------- corruptions (after signing)

export interface Corruption {
  name: string;
  weight: number;
  apply(token: string, rng: Rng, pool: readonly string[], ctx: Context): [note: string, token: string];
}

const WEIRD_CHARS = ['+', '/', '=', ' ', '\n', '\t', '\r', '.', '%', 'é', '\u0000', '\u{1f600}', '*', '\\', '"', '\u00a0', '\ufeff'];
const segs = (token: string) => token.split('.');
const flipBit = (bytes: Buffer, rng: Rng) => {
  const copy = Buffer.from(bytes);
  if (copy.length > 0) copy[rng.int(copy.length)]! ^= 1 << rng.int(8);
  return copy;
};

export const CORRUPTIONS: Corruption[] = [
  {
    name: 'char-replaced',
    weight: 4,
    apply: (t, r) => {
      const i = r.int(t.length);
      const ch = r.pick([...B64URL_ALPHABET].filter((c) => c !== t[i]));
      return [`char ${i} -> ${ch}`, t.slice(0, i) + ch + t.slice(i + 1)];
    },
  },
  {
    name: 'bit-flipped',
    weight: 4,
    apply: (t, r) => {
      const parts = segs(t);
      const which = r.int(3);
      parts[which] = flipBit(Buffer.from(parts[which]!, 'base64url'), r).toString('base64url');
      return [`one bit of decoded segment ${which} flipped`, parts.join('.')];
    },
  },
  {
    name: 'char-inserted',
    weight: 2,
    apply: (t, r) => {
      const i = r.int(t.length + 1);
      const ch = r.pick([...WEIRD_CHARS, ...B64URL_ALPHABET.slice(0, 8)]);
      return [`${JSON.stringify(ch)} inserted at ${i}`, t.slice(0, i) + ch + t.slice(i)];
    },
  },
  {
    name: 'char-deleted',
    weight: 2,
    apply: (t, r) => {
      const i = r.int(t.length);
      return [`char ${i} deleted`, t.slice(0, i) + t.slice(i + 1)];
    },
  },
  {
    name: 'truncated',
    weight: 2,
    apply: (t, r) => {
      const len = r.int(t.length);
      return [`truncated to ${len}`, t.slice(0, len)];
    },
  },
  {
    name: 'signature-edited',
    weight: 3,
    apply: (t, r) => {
      const [h, p, sig = ''] = segs(t);
      const [label, next] = r.pick<[string, string]>([
        ['last char dropped', sig.slice(0, -1)],
        ['two chars dropped', sig.slice(0, -2)],
        ['one char appended', sig + r.pick([...B64URL_ALPHABET])],
        ['two chars appended', `${sig}AA`],
        ['"AA" prepended (zero byte)', `AA${sig}`],
        ['doubled', sig + sig],
        ['emptied', ''],
        ['padded', `${sig}==`],
        ['reversed', [...sig].reverse().join('')],
        ['all "A"', 'A'.repeat(sig.length)],
        [
          'canonical twin (unused bits set)',
          sig.slice(0, -1) + B64URL_ALPHABET[(B64URL_ALPHABET.indexOf(sig.slice(-1)) & ~0b1111) | (1 + r.int(15))],
        ],
      ]);
      return [`signature ${label}`, `${h}.${p}.${next}`];
    },
  },
  {
    name: 'segment-padded',
    weight: 2,
    apply: (t, r) => {
      const parts = segs(t);
      const which = r.int(3);
      const pad = r.pick(['=', '==', '===']);
      parts[which] = `${parts[which] ?? ''}${pad}`;
      return [`segment ${which} + ${pad}`, parts.join('.')];
    },
  },
  {
    name: 'wrapped',
    weight: 2,
    apply: (t, r) => {
      const [label, next] = r.pick<[string, string]>([
        ['leading space', ` ${t}`],
        ['trailing space', `${t} `],
        ['trailing newline', `${t}\n`],
        ['trailing CRLF', `${t}\r\n`],
        ['leading tab', `\t${t}`],
        ['"Bearer " prefix', `Bearer ${t}`],
        ['quoted', `"${t}"`],
        ['NUL appended', `${t}\u0000`],
        ['BOM prefixed', `\ufeff${t}`],
      ]);
      return [label, next];
    },
  },
  {
    name: 'segments-reshaped',
    weight: 3,
    apply: (t, r) => {
      const [h = '', p = '', s = ''] = segs(t);
      const [label, next] = r.pick<[string, string]>([
        ['empty header', `.${p}.${s}`],
        ['empty payload', `${h}..${s}`],
        ['empty signature', `${h}.${p}.`],
        ['two segments', `${h}.${p}`],
        ['one segment', h],
        ['four segments', `${t}.${s}`],
        ['trailing dot', `${t}.`],
        ['leading dot', `.${t}`],
        ['five segments (JWE shape)', `${h}.${p}.${s}.${p}.${s}`],
        ['payload and header swapped', `${p}.${h}.${s}`],
        ['signature first', `${s}.${h}.${p}`],
        ['header twice', `${h}.${h}.${s}`],
        ['payload twice', `${h}.${p}.${p}`],
        ['dots only', '..'],
        ['empty', ''],
        ['double dot', `${h}..${p}.${s}`],
      ]);
      return [label, next];
    },
  },
  {
    name: 'foreign-parts',
    weight: 3,
    apply: (t, r, pool, c) => {
      const [h = '', p = '', s = ''] = segs(t);
      const [oh = '', op = '', os = ''] = segs(r.pick(pool));
      const none = Buffer.from(JSON.stringify({ alg: 'none', kid: c.kid, typ: 'JWT' })).toString('base64url');
      const [label, next] = r.pick<[string, string]>([
        ['signature of another token', `${h}.${p}.${os}`],
        ['header of another token', `${oh}.${p}.${s}`],
        ['payload of another token', `${h}.${op}.${s}`],
        ['alg none header, empty signature', `${none}.${p}.`],
        ['alg none header, real signature', `${none}.${p}.${s}`],
        ['other token concatenated', `${t}${oh}`],
        ['signature of another token appended', `${h}.${p}.${s}${os}`],
      ]);
      return [label, next];
    },
  },
  {
    name: 'huge',
    weight: 1,
    apply: (t, r) => {
      const [h = '', p = '', s = ''] = segs(t);
      const extra = r.pick([8192, 20_000, 100_000, 1_000_000]);
      const [label, next] = r.pick<[string, string]>([
        [`payload + ${extra} "A"`, `${h}.${p}${'A'.repeat(extra)}.${s}`],
        [`payload + ${extra} base64url spaces`, `${h}.${p}${'ICAg'.repeat(extra / 4)}.${s}`],
        [`header + ${extra} "A"`, `${h}${'A'.repeat(extra)}.${p}.${s}`],
        [`signature + ${extra} "A"`, `${h}.${p}.${s}${'A'.repeat(extra)}`],
        ['token repeated', t.repeat(Math.ceil(extra / t.length))],
      ]);
      return [label, next];
    },
  },
  {
    name: 'case-or-alphabet',
    weight: 1,
    apply: (t, r) => {
      const [label, next] = r.pick<[string, string]>([
        ['upper-cased', t.toUpperCase()],
        ['lower-cased', t.toLowerCase()],
        ['standard base64 alphabet', t.replace(/-/g, '+').replace(/_/g, '/')],
        ['dots as %2E', t.replace(/\./g, '%2E')],
      ]);
      return [label, next];
    },
  },
];

const CORRUPTION_WEIGHT = CORRUPTIONS.reduce((sum, c) => sum + c.weight, 0);
export function pickCorruption(rng: Rng): Corruption {
  let roll = rng.next() * CORRUPTION_WEIGHT;
  for (const c of CORRUPTIONS) {
    roll -= c.weight;
    if (roll < 0) return c;
  }
  return CORRUPTIONS[CORRUPTIONS.length - 1]!;
}
