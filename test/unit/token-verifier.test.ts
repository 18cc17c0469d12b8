import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type CryptoKey as JoseCryptoKey, type JWTVerifyGetKey } from 'jose';
import { checkKeySet, TokenVerifier } from '../../src/auth/token-verifier.js';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'veil-test';

async function setup(verifiedCacheSeconds: number) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const local = createLocalJWKSet({ keys: [jwk] });
  let keyLookups = 0;
  const jwks: JWTVerifyGetKey = (header, token) => {
    keyLookups += 1;
    return local(header, token);
  };
  let clock = Date.now();
  const verifier = new TokenVerifier({ jwks, issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 0, verifiedCacheSeconds, now: () => clock });
  const mint = (sub: string, scopes: string, expiresInSeconds = 3600, claims: Record<string, unknown> = { scope: scopes }) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(Math.floor(clock / 1000))
      .setExpirationTime(Math.floor(clock / 1000) + expiresInSeconds)
      .sign(privateKey);
  return {
    verifier,
    mint,
    lookups: () => keyLookups,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('TokenVerifier scopes and header forms', () => {
  it('reads scope and scp, each as a space-separated string or an array, and nothing else from them', async () => {
    const t = await setup(0);
    const scopesOf = async (claims: Record<string, unknown>) =>
      [...(await t.verifier.verifyAuthorization(`Bearer ${await t.mint('agent-1', '', 3600, claims)}`)).scopes].sort();
    expect(await scopesOf({ scope: 'customer:read  pii:read' })).toEqual(['customer:read', 'pii:read']);
    expect(await scopesOf({ scp: ['customer:read', 'pii:read'] })).toEqual(['customer:read', 'pii:read']);
    // Microsoft Entra ID puts a space-separated string in scp; some providers an array in scope.
    expect(await scopesOf({ scp: 'customer:read pii:read' })).toEqual(['customer:read', 'pii:read']);
    expect(await scopesOf({ scope: ['customer:read'] })).toEqual(['customer:read']);
    expect(await scopesOf({ scope: 'audit:read', scp: ['customer:read'] })).toEqual(['audit:read', 'customer:read']);
    expect(await scopesOf({ scope: 42, scp: { 'customer:read': true } })).toEqual([]);
    expect(await scopesOf({ scp: [7, null, 'customer:read'] })).toEqual(['customer:read']);
    // Spaces only, as the Router splits the claim (RFC 6749 §3.3): a tab granted customer:read here (a probe).
    expect(await scopesOf({ scope: 'foo\tcustomer:read' })).toEqual(['foo\tcustomer:read']);
  });

  // JSON reads 1e999 as Infinity: such a token never expired (a probe). Times must be ones a clock can hold.
  it('refuses time claims that are not finite, negative, or past the year 9999', async () => {
    const now = Math.floor(Date.now() / 1000);
    const signed = async (claims: Record<string, unknown>) => {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const jwk = { ...(await exportJWK(publicKey)), kid: 'k2', alg: 'ES256' };
      const verifier = new TokenVerifier({ jwks: createLocalJWKSet({ keys: [jwk] }), issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 0, verifiedCacheSeconds: 0 });
      // Written by hand: jose's SignJWT refuses such numbers, an identity provider's library may not.
      const encode = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
      const body = `{"sub":"agent-1","iss":"${ISSUER}","aud":"${AUDIENCE}","scope":"customer:read",${Object.entries(claims).map(([k, v]) => `"${k}":${String(v)}`).join(',')}}`;
      const input = `${encode({ alg: 'ES256', kid: 'k2' })}.${encode(body)}`;
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey as JoseCryptoKey, new TextEncoder().encode(input));
      return verifier.verifyAuthorization(`Bearer ${input}.${Buffer.from(signature).toString('base64url')}`);
    };
    expect((await signed({ exp: now + 60, iat: now })).id).toBe('agent-1');
    for (const claims of [{ exp: '1e999' }, { exp: '1e300' }, { exp: now + 60, iat: '-1e999' }, { exp: now + 60, nbf: '-1' }, { exp: 253402300800 }]) {
      await expect(signed(claims), JSON.stringify(claims)).rejects.toThrow(/claim is not accepted/);
    }
  });

  it('takes any run of spaces or tabs after Bearer, and says when a token is too long', async () => {
    const t = await setup(0);
    const token = await t.mint('agent-1', 'customer:read');
    for (const header of [`Bearer  ${token}`, `Bearer\t${token}`, `bearer ${token}`, ` Bearer ${token} `]) {
      expect((await t.verifier.verifyAuthorization(header)).id).toBe('agent-1');
    }
    await expect(t.verifier.verifyAuthorization(`Bearer${token}`)).rejects.toThrow('must be Bearer followed by a JWT');
    await expect(t.verifier.verifyAuthorization(`Bearer ${'a'.repeat(9000)}`)).rejects.toThrow('longer than 8192 characters');
  });
});

describe('TokenVerifier verified-token cache', () => {
  it('checks the signature of a repeated token once per window, and again after it', async () => {
    const t = await setup(60);
    const token = await t.mint('agent-1', 'customer:read pii:read');
    const first = await t.verifier.verifyAuthorization(`Bearer ${token}`);
    const second = await t.verifier.verifyAuthorization(`Bearer ${token}`);
    expect(t.lookups()).toBe(1);
    expect(second).toEqual(first);
    expect([...second.scopes].sort()).toEqual(['customer:read', 'pii:read']);
    expect(second.scopes).not.toBe(first.scopes);
    t.advance(61_000);
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    expect(t.lookups()).toBe(2);
  });

  it('verifies every request when the cache is off', async () => {
    const t = await setup(0);
    const token = await t.mint('agent-1', 'customer:read');
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    expect(t.lookups()).toBe(2);
  });

  it('never serves a token past its exp, even inside the window', async () => {
    const t = await setup(60);
    const token = await t.mint('agent-1', 'customer:read', 10);
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    t.advance(11_000);
    await expect(t.verifier.verifyAuthorization(`Bearer ${token}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(t.lookups()).toBe(2);
  });

  it('does not cache failures, and a tampered copy of a cached token is rejected', async () => {
    const t = await setup(60);
    const token = await t.mint('agent-1', 'customer:read');
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    const [h, p, sig] = token.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'customer:read audit:read' })).toString('base64url');
    const forged = `${h}.${forgedPayload}.${sig}`;
    for (let i = 0; i < 2; i++) {
      await expect(t.verifier.verifyAuthorization(`Bearer ${forged}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    }
    expect(t.lookups()).toBe(3);
  });
});

describe('TokenVerifier token spelling', () => {
  it('takes one spelling of a token: padding, or other unused bits in a segment\'s last character, is refused', async () => {
    const t = await setup(0);
    const token = await t.mint('agent-1', 'customer:read');
    expect((await t.verifier.verifyAuthorization(`Bearer ${token}`)).id).toBe('agent-1');
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // An ES256 signature is 64 bytes: 86 characters, whose last carries 2 bits of it and 4 unused ones.
    const lowBitsFlipped = token.slice(0, -1) + ALPHABET[ALPHABET.indexOf(token.at(-1)!) ^ 1]!;
    const [h, p, sig] = token.split('.') as [string, string, string];
    for (const variant of [`${token}==`, lowBitsFlipped, `${h}=.${p}.${sig}`, `${h}.${p}.${sig}.`]) {
      await expect(t.verifier.verifyAuthorization(`Bearer ${variant}`), variant.slice(-4)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    }
  });
});

describe('TokenVerifier claims', () => {
  it('refuses a token issued in the future (beyond the clock tolerance)', async () => {
    const t = await setup(60);
    t.advance(120_000);
    const future = await t.mint('agent-1', 'customer:read');
    t.advance(-120_000);
    await expect(t.verifier.verifyAuthorization(`Bearer ${future}`)).rejects.toMatchObject({
      message: "The token's iat claim is not accepted",
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});

describe('TokenVerifier key sets from AUTH_JWKS_URL', () => {
  /** A real HTTP server on loopback answering the key set path with `body`. */
  async function serveKeySet(body: unknown, contentType = 'application/json'): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
    const { createServer } = await import('node:http');
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': contentType });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}/jwks.json`, hits: () => hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  const source = (jwksUrl: string, onKeySetUnavailable?: (cause: unknown) => void) => ({
    jwksUrl,
    jwksFile: null,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSeconds: 0,
    onKeySetUnavailable,
  });

  it('fetches the key set once at start and verifies tokens signed by it', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const served = await serveKeySet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
    try {
      const verifier = await TokenVerifier.fromSource(source(served.url));
      expect(served.hits()).toBe(1);
      const token = await new SignJWT({ scope: 'customer:read' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setSubject('agent-url')
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(privateKey);
      expect((await verifier.verifyAuthorization(`Bearer ${token}`)).id).toBe('agent-url');
      expect(served.hits()).toBe(1);
    } finally {
      await served.close();
    }
  });

  // jose leaves it to the caller to try each key that fits (JWKSMultipleMatchingKeys): keys without a kid during a
  // rotation, or one key listed twice, started, reported ready and refused every token (a probe).
  it('tries each key when several fit the token: keys without a kid, or one key listed twice', async () => {
    const [a, b] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')]);
    const [jwkA, jwkB] = await Promise.all([exportJWK(a.publicKey), exportJWK(b.publicKey)]);
    const sign = (privateKey: JoseCryptoKey, kid?: string, expiresIn = '5m') =>
      new SignJWT({ scope: 'customer:read' })
        .setProtectedHeader({ alg: 'ES256', ...(kid ? { kid } : {}) })
        .setSubject('agent-rotation')
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(expiresIn)
        .sign(privateKey);
    const other = await generateKeyPair('ES256');
    for (const keys of [[jwkA, jwkB], [{ ...jwkA, kid: 'k1' }, { ...jwkA, kid: 'k1' }]]) {
      const served = await serveKeySet({ keys });
      try {
        const verifier = await TokenVerifier.fromSource(source(served.url));
        const kid = keys[0]?.kid;
        expect((await verifier.verifyAuthorization(`Bearer ${await sign(a.privateKey, kid)}`)).id).toBe('agent-rotation');
        if (!kid) expect((await verifier.verifyAuthorization(`Bearer ${await sign(b.privateKey)}`)).id).toBe('agent-rotation');
        // A key none of them holds is still refused, and so is an expired token signed by one of them.
        await expect(verifier.verifyAuthorization(`Bearer ${await sign(other.privateKey, kid)}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
        await expect(verifier.verifyAuthorization(`Bearer ${await sign(a.privateKey, kid, '-10m')}`)).rejects.toThrow(/expired/);
      } finally {
        await served.close();
      }
    }
  });

  // A key set fetched again after start is not checked as the first one is: a key no token can be verified with (RSA
  // under 2048 bits) listed before the good one stopped the search (a regression probe).
  it('passes over a key that cannot be used at all when several fit the token', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const good = await generateKeyPair('RS256', { modulusLength: 2048 });
    const verifier = new TokenVerifier({
      jwks: createLocalJWKSet({ keys: [{ ...weak, alg: 'RS256' }, { ...(await exportJWK(good.publicKey)), alg: 'RS256' }] }),
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSeconds: 0,
      verifiedCacheSeconds: 0,
    });
    const token = await new SignJWT({ scope: 'customer:read' }).setProtectedHeader({ alg: 'RS256' }).setSubject('agent-weak-first').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(good.privateKey);
    expect((await verifier.verifyAuthorization(`Bearer ${token}`)).id).toBe('agent-weak-first');
  });

  // Each try is a signature check: a token signed by none of 50 kid-less keys cost 50 of them per request (a regression
  // probe). At most four are tried: a key set of more keys that fit a kid-less token (keys with a kid fit it too)
  // verifies its tokens with the first four, and a token of the fifth is told why (a probe got "The token signature
  // is invalid" for it).
  it.each([
    ['no key of the set has a kid', false],
    ['every key of the set has a kid', true],
  ])('tries at most four of the keys that fit a kid-less token, and says so when that is why: %s', async (_case, withKid) => {
    const pairs = await Promise.all(Array.from({ length: 6 }, () => generateKeyPair('ES256')));
    const verifier = new TokenVerifier({
      jwks: createLocalJWKSet({
        keys: await Promise.all(pairs.map(async (pair, i) => ({ ...(await exportJWK(pair.publicKey)), alg: 'ES256', ...(withKid ? { kid: `k${i}` } : {}) }))),
      }),
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSeconds: 0,
      verifiedCacheSeconds: 0,
    });
    const sign = (key: JoseCryptoKey, kid?: string) =>
      new SignJWT({ scope: 'customer:read' }).setProtectedHeader({ alg: 'ES256', ...(kid ? { kid } : {}) }).setSubject('agent-many-keys').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(key);
    expect((await verifier.verifyAuthorization(`Bearer ${await sign(pairs[3]!.privateKey)}`)).id).toBe('agent-many-keys');
    await expect(verifier.verifyAuthorization(`Bearer ${await sign(pairs[5]!.privateKey)}`)).rejects.toThrow(/not verified by the first 4 keys of the set that fit it.*kid/);
    if (withKid) expect((await verifier.verifyAuthorization(`Bearer ${await sign(pairs[5]!.privateKey, 'k5')}`)).id).toBe('agent-many-keys');
  });

  it('refuses to start on a served key set that holds a private key, naming AUTH_JWKS_URL', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const served = await serveKeySet({ keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' }] });
    try {
      await expect(TokenVerifier.fromSource(source(served.url))).rejects.toThrow(/^AUTH_JWKS_URL: key 0 holds private or secret key material/);
    } finally {
      await served.close();
    }
  });

  it.each([
    ["the issuer's discovery document", { issuer: ISSUER, jwks_uri: `${ISSUER}/jwks.json` }, 'application/json'],
    ['an empty object', {}, 'application/json'],
    ['an HTML page', '<!doctype html><html><body>Sign in</body></html>', 'text/html'],
  ])('refuses to start when the URL serves something other than a key set: %s', async (_what, body, contentType) => {
    const served = await serveKeySet(body, contentType);
    const causes: unknown[] = [];
    try {
      await expect(TokenVerifier.fromSource(source(served.url, (cause) => causes.push(cause)))).rejects.toThrow(
        /^AUTH_JWKS_URL: the URL answers with something other than a JSON Web Key Set/,
      );
      expect(causes).toEqual([]);
    } finally {
      await served.close();
    }
  });

  it('starts, and says the key set could not be fetched, when its answer is cut off by the network', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"keys":[{"kty":"EC"');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const causes: unknown[] = [];
    try {
      await TokenVerifier.fromSource(source(`http://127.0.0.1:${port}/jwks.json`, (cause) => causes.push(cause)));
      expect(causes).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('starts when the key set cannot be fetched, says so, and refuses tokens until it can be fetched', async () => {
    const served = await serveKeySet({});
    await served.close();
    const causes: unknown[] = [];
    const verifier = await TokenVerifier.fromSource(source(served.url, (cause) => causes.push(cause)));
    expect(causes).toHaveLength(1);
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('a').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(privateKey);
    for (let i = 0; i < 3; i++) await expect(verifier.verifyAuthorization(`Bearer ${token}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    // No fault of the token: the 401's challenge must not say `invalid_token`, which sends OAuth clients to refresh
    // tokens through an outage of ours (a regression probe).
    await expect(verifier.verifyAuthorization(`Bearer ${token}`)).rejects.toMatchObject({ challenge: null, message: 'The keys to verify the token could not be fetched' });
    // Reported at most every 30 s, however many requests meet it.
    expect(causes).toHaveLength(1);
  });
});

describe('checkKeySet', () => {
  it.each([
    ['an EC key without coordinates', { kty: 'EC', crv: 'P-256', alg: 'ES256', kid: 'e' }],
    ['an EC key whose point is not on the curve', { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'e' }],
    ['an RSA key with a toy modulus', { kty: 'RSA', n: 'abc', e: 'AQAB', alg: 'RS256', kid: 'r' }],
  ])('refuses %s, which would refuse every token, naming the variable', (_name, key) => {
    expect(() => checkKeySet({ keys: [key] }, 'AUTH_JWKS_FILE')).toThrow(/^AUTH_JWKS_FILE: key 0 is not a usable public key/);
  });

  it('takes real EC, OKP and 2048-bit RSA public keys', async () => {
    const keys = await Promise.all(
      [generateKeyPair('ES256'), generateKeyPair('EdDSA', { crv: 'Ed25519' }), generateKeyPair('RS256', { modulusLength: 2048 })].map(async (pair) => exportJWK((await pair).publicKey)),
    );
    expect(checkKeySet({ keys }, 'AUTH_JWKS_FILE').keys).toHaveLength(3);
  });

  // Each started, reported ready and refused every token (a probe).
  it('refuses a set whose only key is for encryption, or a key that does not fit its algorithm', async () => {
    const p256 = await exportJWK((await generateKeyPair('ES256')).publicKey);
    expect(() => checkKeySet({ keys: [{ ...p256, alg: 'ES256', use: 'enc' }] }, 'AUTH_JWKS_FILE')).toThrow(
      'AUTH_JWKS_FILE: the key set has no key that can verify tokens (every key is for encryption, or of a kind no accepted algorithm uses)',
    );
    expect(() => checkKeySet({ keys: [{ ...p256, key_ops: ['encrypt'] }] }, 'AUTH_JWKS_FILE')).toThrow(/no key that can verify/);
    // A regression probe: keys jose refuses for every token.
    expect(() => checkKeySet({ keys: [{ ...p256, key_ops: ['verify', 'verify'] }] }, 'AUTH_JWKS_FILE')).toThrow(/distinct strings/);
    expect(() => checkKeySet({ keys: [{ ...p256, ext: 'true' }] }, 'AUTH_JWKS_FILE')).toThrow(/"ext" that is not true or false/);
    const ed448 = generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' });
    expect(() => checkKeySet({ keys: [{ ...ed448, alg: 'EdDSA' }] }, 'AUTH_JWKS_FILE')).toThrow(/key 0 cannot verify EdDSA/);
    expect(() => checkKeySet({ keys: [ed448] }, 'AUTH_JWKS_FILE')).toThrow(/no key that can verify/);
    expect(() => checkKeySet({ keys: [{ ...p256, alg: 'ES512' }] }, 'AUTH_JWKS_FILE')).toThrow('AUTH_JWKS_FILE: key 0 cannot verify ES512 (its key type or curve fits ES256)');
    expect(() => checkKeySet({ keys: [{ ...p256, alg: 'RS256' }] }, 'AUTH_JWKS_FILE')).toThrow(/key 0 cannot verify RS256/);
    const rsa = await exportJWK((await generateKeyPair('RS256', { modulusLength: 2048 })).publicKey);
    expect(() => checkKeySet({ keys: [{ ...rsa, alg: 'EdDSA' }] }, 'AUTH_JWKS_FILE')).toThrow(/key 0 cannot verify EdDSA \(its key type or curve fits RS256, RS384, RS512, PS256, PS384, PS512\)/);
    expect(() => checkKeySet({ keys: [{ ...p256, use: 5 }] }, 'AUTH_JWKS_FILE')).toThrow(/"use" that is not a string/);
  });

  it('passes over an encryption key beside signing keys, as Keycloak publishes one (RSA-OAEP)', async () => {
    const rsa = await exportJWK((await generateKeyPair('RS256', { modulusLength: 2048 })).publicKey);
    const set = { keys: [{ ...rsa, kid: 'enc', alg: 'RSA-OAEP', use: 'enc' }, { ...rsa, kid: 'sig', alg: 'RS256', use: 'sig' }] };
    expect(checkKeySet(set, 'AUTH_JWKS_URL').keys).toHaveLength(2);
    // And an unlabelled key of a kind no accepted algorithm uses (X25519), as jose does (a regression probe).
    const x25519 = await exportJWK((await generateKeyPair('ECDH-ES', { crv: 'X25519' })).publicKey);
    expect(checkKeySet({ keys: [x25519, { ...rsa, alg: 'RS256' }] }, 'AUTH_JWKS_URL').keys).toHaveLength(2);
  });
});
