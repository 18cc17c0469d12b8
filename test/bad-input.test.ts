/**
 * Hostile and malformed input, table-driven. Every case must get the right
 * status and error code, and must change nothing: the content of every
 * MongoDB collection and every Redis key of the app is fingerprinted before
 * and after each case. (Rate-limit counters are the one exception: a refused
 * probe still spends the caller's budget, which is the point of them.)
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { exportSPKI, generateKeyPair, importJWK, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose';
import { BSON } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

const ALL_SCOPES = [
  'customer:read', 'pii:read', 'pii:approve', 'context:read', 'fraud:read', 'consent:read', 'audit:read', 'dsar:process',
  ...SERVICE_SCOPES,
];
const MAX_DEPTH = 5;
const MAX_BODY_BYTES = 16 * 1024;
const OPERATOR = '{"$ne": null}';
const OPERATOR_OBJECT = { $ne: null };
/** The victim's CRM id: letters, so that no phone-number shape refuses it first. */
const VICTIM_CRM = 'ACME-VICTIM-QX';
const VICTIM_EMAIL = anEmail('victim');
const VICTIM_PHONE = aPhone();
// Registered with a phone only, under a name and language that would show identifiers linked to them later.
const LATER_PHONE = aPhone();
const LATER_NAME_PHONE = aPhone();
const LATER_DIGIT_PHONE = aPhone();
let laterId: string;
let laterNameId: string;
let laterDigitId: string;
let laterDigitsId: string;

let app: TestApp;
let token: string;
let customerId: string;

interface Reply {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | null;
}

async function send(options: { body?: string | Uint8Array; method?: string; headers?: Record<string, string>; contentType?: string | null; auth?: string | null; search?: string }): Promise<Reply> {
  const auth = options.auth === undefined ? `Bearer ${token}` : options.auth;
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
  const res = await fetch(`${app.url}${options.search ?? ''}`, {
    method: options.method ?? 'POST',
    headers: { ...(contentType === null ? {} : { 'content-type': contentType }), ...(auth === null ? {} : { authorization: auth }), ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await res.text();
  let body: Reply['body'] = null;
  try {
    body = JSON.parse(text) as Reply['body'];
  } catch {
    body = null; // Not JSON: the assertions below say what was expected instead.
  }
  return { status: res.status, headers: res.headers, body };
}

const gql = (query: string, variables?: Record<string, unknown>, auth?: string | null) => send({ body: JSON.stringify({ query, variables }), auth });

/** A body streamed without Content-Length: the limit must hold while reading, not only from the header. */
function sendChunked(size: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(app.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [key, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(key, value);
        resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Reply['body'] });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    const piece = `{"query":"{ __typename }","pad":"${'x'.repeat(1024)}`;
    for (let sent = 0; sent < size; sent += piece.length) req.write(piece);
    req.end('"}');
  });
}

// --- tokens -----------------------------------------------------------------

async function signed(claims: JWTPayload, options: { kid?: string; key?: CryptoKey; alg?: string; crit?: boolean } = {}): Promise<string> {
  const key = options.key ?? ((await importJWK(app.keys.signingKey.privateJwk, 'ES256')) as CryptoKey);
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: options.alg ?? 'ES256', kid: options.kid ?? app.keys.signingKey.kid, typ: 'JWT', ...(options.crit ? { crit: ['x-unknown'], 'x-unknown': true } : {}) };
  return new SignJWT({ scope: ALL_SCOPES.join(' '), sub: 'agent-bad', iss: app.config.authIssuer, aud: app.config.authAudience, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader(header)
    // The signer may use an extension it knows; the verifier does not know it and must refuse the token.
    .sign(key, options.crit ? { crit: { 'x-unknown': true } } : undefined);
}

async function hs256WithPublicKey(): Promise<string> {
  // The classic confusion attack: the verifier's public key used as an HMAC secret.
  const publicKey = await importJWK(app.keys.signingKey.publicJwk, 'ES256', { extractable: true });
  const pem = await exportSPKI(publicKey as CryptoKey);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: ALL_SCOPES.join(' '), sub: 'attacker', iss: app.config.authIssuer, aud: app.config.authAudience, exp: now + 600 })
    .setProtectedHeader({ alg: 'HS256', kid: app.keys.signingKey.kid })
    .sign(new TextEncoder().encode(pem));
}

// --- store fingerprints -----------------------------------------------------

async function fingerprintStores(): Promise<Record<string, string>> {
  const db = app.app.mongo.db;
  const result: Record<string, string> = {};
  const collections = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  for (const name of collections) {
    const docs = await db.collection(name).find({}).sort({ _id: 1 }).toArray();
    result[`mongo:${name}`] = `${docs.length}:${createHash('sha256').update(BSON.EJSON.stringify(docs)).digest('hex')}`;
  }
  const prefix = app.config.redisKeyPrefix;
  // Rate-limit counters (a refused request still spends budget) and snapshot epochs, which a consent change made in
  // setup bumps again 2 s and 30 s later (CONSENT_REPURGE_MS): an invalidation token, not data.
  const keys = (await app.app.redis.keys(`${prefix}*`)).filter((k) => !k.startsWith(`${prefix}rl:`) && !k.startsWith(`${prefix}snapshot-epoch:`)).sort();
  for (const key of keys) {
    const dump = await app.app.redis.dumpBuffer(key.slice(prefix.length));
    result[`redis:${key}`] = createHash('sha256').update(dump ?? Buffer.alloc(0)).digest('hex');
  }
  return result;
}

// --- the table --------------------------------------------------------------

interface Case {
  name: string;
  run: () => Promise<Reply>;
  status: number;
  /** The code the first error must carry; null when the answer must carry no error at all. */
  code: string | null;
  /** Extra checks on the reply. */
  check?: (reply: Reply) => void;
}

const RESOLVE = `query($kind: IdentifierKind!, $value: String!) { resolveCustomer(input: { identifier: { kind: $kind, value: $value } }) { customer { id } } }`;
const RESOLVE_ANY = `query($identifier: IdentifierInput!) { resolveCustomer(input: { identifier: $identifier }) { customer { id } } }`;
const BY_ID = `query($id: ID!) { customer(id: $id) { id email } }`;
const LINK = `mutation($id: ID!, $kind: IdentifierKind!, $value: String!) { linkIdentifier(customerId: $id, identifier: { kind: $kind, value: $value }) { id } }`;
const AUDIT_PAGE = `query($id: ID!, $first: Int, $from: DateTime) { customer(id: $id) { auditTrail(first: $first, from: $from) { edges { cursor } } } }`;

/**
 * `challenge`: the RFC 6750 error the 401's `WWW-Authenticate: Bearer` names: `invalid_token` for a token that does
 * not verify, `invalid_request` for a header that is not `Bearer <token>`, none when no credentials came.
 */
const unauthenticated = (name: string, header: () => Promise<string | null> | string | null, challenge: 'invalid_token' | 'invalid_request' | null = 'invalid_token'): Case => ({
  name,
  // A mutation: had the token been accepted, a customer would have been written.
  run: async () => gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('jwt') }] } }, await header()),
  status: 401,
  code: 'UNAUTHENTICATED',
  check: (reply) => {
    expect(reply.body?.data ?? null).toBeNull();
    const wwwAuthenticate = reply.headers.get('www-authenticate');
    if (challenge === null) expect(wwwAuthenticate).toBe('Bearer');
    // With its reason, always (an empty Bearer's held a quote and was left out; a probe).
    else expect(wwwAuthenticate).toMatch(new RegExp(`^Bearer error="${challenge}", error_description="[^"\\\\]+"$`));
  },
});

const limit = (name: string, which: string, run: () => Promise<Reply>): Case => ({
  name,
  run,
  status: 400,
  code: 'QUERY_TOO_COMPLEX',
  check: (reply) => expect(reply.body?.errors?.find((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX')?.extensions?.limit).toBe(which),
});

const badInput = (name: string, run: () => Promise<Reply>, status = 200): Case => ({ name, run, status, code: 'BAD_USER_INPUT' });

const now = () => Math.floor(Date.now() / 1000);

const CASES: Case[] = [
  // Tokens
  unauthenticated('a token with alg "none"', async () => `Bearer ${new UnsecuredJWT({ scope: ALL_SCOPES.join(' '), sub: 'x', iss: app.config.authIssuer, aud: app.config.authAudience }).setExpirationTime('10m').encode()}`),
  unauthenticated('an HS256 token signed with the public key as secret', async () => `Bearer ${await hs256WithPublicKey()}`),
  unauthenticated('an expired token', async () => `Bearer ${await signed({ iat: now() - 7200, exp: now() - 3600 })}`),
  unauthenticated('a token not valid until ten minutes from now', async () => `Bearer ${await signed({ nbf: now() + 600 })}`),
  unauthenticated('a token from another issuer', async () => `Bearer ${await signed({ iss: 'https://evil.example/' })}`),
  unauthenticated('a token for another audience', async () => `Bearer ${await signed({ aud: 'another-api' })}`),
  unauthenticated('a token signed by a key with an unknown kid', async () => `Bearer ${await signed({}, { kid: 'unknown-kid', key: (await generateKeyPair('ES256')).privateKey })}`),
  unauthenticated('a token signed by another key under the trusted kid', async () => `Bearer ${await signed({}, { key: (await generateKeyPair('ES256')).privateKey })}`),
  unauthenticated('a token with an unknown critical header', async () => `Bearer ${await signed({}, { crit: true })}`),
  unauthenticated('a token without a subject', async () => `Bearer ${await signed({ sub: undefined })}`),
  // Subjects are compared exactly (two-person rule, grants, audit actor): a padded or invisible variant would pass as a second person.
  unauthenticated('a token whose subject is blank', async () => `Bearer ${await signed({ sub: '   ' })}`),
  unauthenticated('a token whose subject has a trailing space', async () => `Bearer ${await signed({ sub: 'agent-bad-input ' })}`),
  unauthenticated('a token whose subject has a zero-width space', async () => `Bearer ${await signed({ sub: 'agent-bad-input\u200b' })}`),
  unauthenticated('a token whose subject ends in a Hangul filler', async () => `Bearer ${await signed({ sub: 'agent-bad-input\u3164' })}`),
  unauthenticated('a token whose subject ends in a braille blank', async () => `Bearer ${await signed({ sub: 'agent-bad-input\u2800' })}`),
  unauthenticated('a token whose subject holds a no-break space', async () => `Bearer ${await signed({ sub: 'agent\u00a0bad-input' })}`),
  unauthenticated('a token whose subject ends in a combining grapheme joiner', async () => `Bearer ${await signed({ sub: 'agent-bad-input\u034f' })}`),
  unauthenticated('a token whose subject ends in a variation selector', async () => `Bearer ${await signed({ sub: 'agent-bad-input\ufe0f' })}`),
  unauthenticated('a token whose subject is not in composed form (NFD)', async () => `Bearer ${await signed({ sub: 'agent-jose\u0301' })}`),
  unauthenticated('a token whose subject has an unpaired surrogate', async () => `Bearer ${await signed({ sub: 'agent-\ud800' })}`),
  unauthenticated('a token without an expiry', async () => `Bearer ${await signed({ exp: undefined })}`),
  unauthenticated('a garbage bearer value', () => 'Bearer abc.def.ghi'),
  unauthenticated('an empty Bearer', () => 'Bearer ', 'invalid_request'),
  // RFC 6750 §3.1: a scheme this server does not take gets no error code.
  unauthenticated('a Basic authorization header', () => 'Basic dXNlcjpwYXNzd29yZA==', null),
  unauthenticated('a 9 KB token', () => `Bearer ${'a'.repeat(9000)}`, 'invalid_request'),
  unauthenticated('no authorization header at all', () => null, null),
  // JSON is UTF-8 (RFC 8259). Bytes of another charset were decoded as UTF-8 with U+FFFD in place of what did not read,
  // and `José Müller` was stored, encrypted, as `Jos\uFFFD M\uFFFDller` for good (a probe).
  {
    name: 'a JSON body declared as windows-1252',
    run: () => send({ body: Buffer.from(JSON.stringify({ query: REGISTER, variables: { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('cp') }], displayName: 'Jos\u00e9 M\u00fcller' } } }), 'latin1'), contentType: 'application/json; charset=windows-1252' }),
    status: 415,
    code: 'BAD_REQUEST',
  },
  {
    name: 'a JSON body whose bytes are not UTF-8 (Latin-1 sent as application/json)',
    run: () => send({ body: Buffer.from(JSON.stringify({ query: REGISTER, variables: { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('cp') }], displayName: 'Jos\u00e9 M\u00fcller' } } }), 'latin1') }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'GET variables percent-encoded in Latin-1 (%E9)',
    run: () => send({ method: 'GET', search: `?query=${encodeURIComponent(BY_ID)}&variables=${encodeURIComponent('{"id":"cus_')}%E9%22%7D`, headers: { 'apollo-require-preflight': 'true' } }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  // Only GraphQL's own parameters are judged: a tracker's `utm=50%` beside them was refused (a regression probe).
  {
    name: 'a GET whose non-GraphQL parameter holds a stray % (served)',
    run: () => send({ method: 'GET', search: `?query=${encodeURIComponent('{ __typename }')}&utm=50%&x=%zz`, headers: { 'apollo-require-preflight': 'true' } }),
    status: 200,
    code: null,
  },
  // Over GET an identifier or a session token travels in the URL, which proxies and routers log (a probe).
  ...[
    ['resolveCustomer', `query { resolveCustomer(input: { identifier: { kind: EMAIL, value: "${VICTIM_EMAIL}" } }) { customer { id } } }`],
    ['resolveCustomer, under an alias in a fragment', `query { ...F } fragment F on Query { who: resolveCustomer(input: { identifier: { kind: CRM_ID, value: "${VICTIM_CRM}" } }) { matchedBy } }`],
    ['sessionContext', 'query { sessionContext(token: "sst_abc") { customerId } }'],
    // In an operation the request does not run: the identifier is in the URL all the same (a probe).
    ['resolveCustomer, in an operation beside the one run', `query A { __typename } query B { resolveCustomer(input: { identifier: { kind: EMAIL, value: "${VICTIM_EMAIL}" } }) { matchedBy } }`, 'A'],
    ['a mutation, beside the query run', `query A { __typename } mutation B { linkIdentifier(customerId: "cus_00000000000000000000000000", identifier: { kind: EMAIL, value: "${VICTIM_EMAIL}" }) { id } }`, 'A'],
  ].map(([what, query, operationName]): Case => ({
    name: `${what} over GET`,
    run: () => send({ method: 'GET', search: `?query=${encodeURIComponent(query!)}${operationName ? `&operationName=${operationName}` : ''}`, headers: { 'apollo-require-preflight': 'true' } }),
    status: 405,
    code: 'BAD_REQUEST',
    check: (reply) => {
      expect(reply.headers.get('allow')).toBe('POST');
      expect(reply.body?.errors?.[0]?.message).toMatch(/must be sent with POST/);
    },
  })),

  // Operation limits
  limit('a query nested deeper than MAX_QUERY_DEPTH', 'depth', () =>
    gql(`query($id: ID!) { customer(id: $id) { auditTrail { edges { node { actor { id } } } } } }`, { id: customerId })),
  limit('a 1,000-level depth bomb', 'depth', () => gql(`{ ${'customer(id: "x") { '.repeat(1) }${'a { '.repeat(1000)}b${' }'.repeat(1001)} }`)),
  limit('an alias bomb of resolveCustomer probes', 'aliases', () =>
    gql(`{ ${Array.from({ length: 40 }, (_, i) => `p${i}: resolveCustomer(input: { identifier: { kind: EMAIL, value: "probe${i}@example.com" } }) { customer { id } }`).join(' ')} }`)),
  limit('an alias bomb of customer reads', 'aliases', () => gql(`{ ${Array.from({ length: 200 }, (_, i) => `c${i}: customer(id: "${customerId}") { id }`).join(' ')} }`)),
  // graphql-armor counts no alias of `__typename` by default: 1,500 of them were answered (a probe).
  limit('an alias bomb of __typename', 'aliases', () => gql(`{ ${Array.from({ length: 31 }, (_, i) => `t${i}: __typename`).join(' ')} }`)),
  // A router sends one `_entities` per fetch. 30 aliases of it over one list of 1,500 representations resolved 45,000
  // entities from a 100 KB request, for any valid token (a probe: 20-107 MB answers, the process blocked for seconds).
  // (150 here: this file's body limit is 16 KB; 4,500 in all is over the request's 2,000.)
  {
    name: '_entities selected under 30 aliases over one list of representations',
    run: () =>
      gql(`query($r: [_Any!]!) { ${Array.from({ length: 30 }, (_, i) => `a${i}: _entities(representations: $r) { ... on Customer { id status } }`).join(' ')} }`, {
        r: Array.from({ length: 150 }, () => ({ __typename: 'Customer', id: customerId })),
      }),
    status: 200,
    code: 'QUERY_TOO_COMPLEX',
    check: (reply) => {
      expect(reply.body?.data).toBeNull();
      expect(new Set(reply.body?.errors?.map((e) => e.extensions?.limit))).toEqual(new Set(['entityRepresentations']));
    },
  },
  // Literals nested deeper than graphql-js' parser can recurse, under the token limit: the caller was shown
  // "Maximum call stack size exceeded" (a probe).
  limit('a list literal nested 3,000 levels deep', 'depth', () => gql(`{ customer(id: ${'['.repeat(3000)}"x"${']'.repeat(3000)}) { id } }`)),
  limit('an object literal nested 2,000 levels deep in a default value', 'depth', () => gql(`query($r: _Any = ${'{a:'.repeat(2000)}1${'}'.repeat(2000)}) { __typename }`)),
  limit('a token bomb', 'tokens', () => gql(`{ ${'a '.repeat(5100)} }`)),
  limit('inline fragments nested 300 deep, which the depth rule flattens', 'depth', () => gql(`{ ${'...{ '.repeat(300)}__typename${' }'.repeat(300)} }`)),
  limit('a directive bomb', 'tokens', () => gql(`{ __typename ${'@a '.repeat(2600)} }`)),
  // 30 aliases of an export over a 2,000-event chain: 16.7 MB in 20 s (a probe); verifications were limited already.
  limit('four data-subject exports in one operation', 'exports', () =>
    gql(`query($c: ID!) { ${Array.from({ length: 4 }, (_, i) => `d${i}: dataSubjectAccess(customerId: $c) { customerId }`).join(' ')} }`, { c: customerId })),
  // 30 aliases of a push of 100 records of each kind: 31-49 s and 12,000 records from 45 KB (a probe).
  limit('six support activity pushes in one operation', 'supportPushes', () =>
    gql(`mutation($in: SupportActivityInput!) { ${Array.from({ length: 6 }, (_, i) => `p${i}: recordSupportActivity(input: $in)`).join(' ')} }`, {
      in: { customerId, tickets: [{ id: 'T-LIMIT', status: 'open', subject: 'Printer broken', openedAt: '2026-11-30T10:00:00Z' }] },
    })),
  limit('a page size that makes the query too costly', 'cost', () =>
    gql(`query($id: ID!) { customer(id: $id) { auditTrail(first: 1000000) { edges { node { id type } } } } }`, { id: customerId })),

  // HTTP
  { name: 'a body over MAX_BODY_BYTES', run: () => send({ body: JSON.stringify({ query: `{ __typename }`, pad: 'x'.repeat(MAX_BODY_BYTES) }) }), status: 413, code: 'BAD_REQUEST' },
  { name: 'a chunked body over MAX_BODY_BYTES without Content-Length', run: () => sendChunked(MAX_BODY_BYTES * 4), status: 413, code: 'BAD_REQUEST' },
  { name: 'a batched array of operations', run: () => send({ body: JSON.stringify([{ query: REGISTER, variables: { input: { identifiers: [{ kind: 'EMAIL', value: anEmail() }] } } }, { query: '{ __typename }' }]) }), status: 400, code: 'BAD_REQUEST' },
  { name: 'a body that is not JSON', run: () => send({ body: '{"query": "{ __typename }"' }), status: 400, code: 'BAD_REQUEST' },
  { name: 'a text/plain POST (CSRF)', run: () => send({ body: JSON.stringify({ query: '{ __typename }' }), contentType: 'text/plain' }), status: 400, code: 'BAD_REQUEST' },
  { name: 'a GET without a preflight header (CSRF)', run: () => send({ method: 'GET', search: `?query=${encodeURIComponent('{ __typename }')}`, contentType: null }), status: 400, code: 'BAD_REQUEST' },
  {
    name: 'a mutation over GET',
    run: () => send({ method: 'GET', search: `?query=${encodeURIComponent('mutation { endSupportSession(token: "x") }')}`, headers: { 'apollo-require-preflight': 'true' } }),
    status: 405,
    code: 'BAD_REQUEST',
  },
  { name: 'a body without a query', run: () => send({ body: JSON.stringify({ variables: {} }) }), status: 400, code: 'BAD_REQUEST' },
  { name: 'a query that is not a string', run: () => send({ body: JSON.stringify({ query: 42 }) }), status: 400, code: 'BAD_REQUEST' },
  { name: 'variables that are not an object', run: () => send({ body: JSON.stringify({ query: BY_ID, variables: '{"id":"x"}' }) }), status: 400, code: 'BAD_REQUEST' },
  { name: 'a syntax error', run: () => gql('{ customer(id: "x") { id }'), status: 400, code: 'GRAPHQL_PARSE_FAILED' },
  // Under the token limit, but more repeated fields than graphql-js will compare: it aborts validation.
  { name: '1,000 repeated __typename selections', run: () => gql(`{ ${'__typename '.repeat(1_000)}}`), status: 400, code: 'QUERY_TOO_COMPLEX' },
  // Automatic persisted queries are off: any persisted-query extension, well-formed or not, is refused as such.
  ...(
    [
      ['of version 2', { version: 2, sha256Hash: 'abc' }],
      ['without a hash', { version: 1 }],
      ['with a number as hash', { version: 1, sha256Hash: 5 }],
      ['that is a string', 'x'],
      ['whose hash does not match the query', { version: 1, sha256Hash: '0'.repeat(64) }],
    ] as const
  ).map(([what, persistedQuery]): Case => ({
    name: `a persisted-query extension ${what}`,
    run: () => send({ body: JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery } }) }),
    status: 200,
    code: 'PERSISTED_QUERY_NOT_SUPPORTED',
  })),
  {
    name: 'a persisted-query extension of version 2 over GET',
    run: () =>
      send({
        method: 'GET',
        search: `?query=${encodeURIComponent('{ __typename }')}&extensions=${encodeURIComponent(JSON.stringify({ persistedQuery: { version: 2 } }))}`,
        headers: { 'apollo-require-preflight': 'true' },
      }),
    status: 200,
    code: 'PERSISTED_QUERY_NOT_SUPPORTED',
  },
  { name: 'an operation name the document does not define', run: () => send({ body: JSON.stringify({ query: 'query A { __typename }', operationName: 'B' }) }), status: 400, code: 'OPERATION_RESOLUTION_FAILURE' },

  // Ids
  {
    ...badInput('a malformed customer id', () => gql(BY_ID, { id: 'not-a-customer-id' })),
    // The error names the argument as the caller wrote it (`customer(id:)`), not the service's parameter.
    check: (reply) => expect(reply.body?.errors?.[0]).toMatchObject({ message: expect.stringMatching(/^id must be/), extensions: { field: 'id' } }),
  },
  badInput('an operator-looking string as customer id', () => gql(BY_ID, { id: OPERATOR })),
  badInput('an operator object as customer id', () => gql(BY_ID, { id: OPERATOR_OBJECT }), 400),
  badInput('an operator-looking string as customerId of linkIdentifier', () => gql(LINK, { id: OPERATOR, kind: 'CRM_ID', value: 'CRM-1' })),
  badInput('an operator-looking grant id', () => gql(`mutation($g: ID!) { approvePiiAccess(grantId: $g) { id } }`, { g: OPERATOR })),
  badInput('an operator-looking customer id for erasure', () => gql(`mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "dsar-1", reason: "Customer request") { customerId } }`, { c: OPERATOR })),
  // Escaped, the digits of the number would touch the letters of the escape (`%2B4477...`) and pass as part of an id.
  ...['tel%3A%2B447700900123', 'jane%40example.com'].map((requestId) =>
    badInput(`an escaped phone number or address as erasure request id (${requestId})`, () =>
      gql(`mutation($c: ID!, $r: String!) { eraseCustomer(customerId: $c, requestId: $r, reason: "Customer request") { customerId } }`, { c: customerId, r: requestId }),
    ),
  ),
  {
    name: 'an operator object as an _entities key',
    run: () => gql(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id email } } }`, { r: [{ __typename: 'Customer', id: OPERATOR_OBJECT }] }),
    status: 200,
    code: null,
    check: (reply) => expect(reply.body?.data).toEqual({ _entities: [null] }),
  },
  ...(
    [
      ['a type this subgraph does not own', [{ __typename: 'NopeWidget', id: 'x' }]],
      ['no __typename', [{ id: 'cus_00000000000000000000000000' }]],
      ['a string instead of an object', ['NopeWidget']],
      ['a root type', [{ __typename: 'Query' }]],
      ['a type that is not an entity', [{ __typename: 'IdentityResolution' }]],
      ['an operator as __typename, after a valid one', [{ __typename: 'Customer', id: 'cus_00000000000000000000000000' }, { __typename: OPERATOR_OBJECT }]],
    ] as const
  ).map(([what, r]): Case => ({
    name: `an _entities representation with ${what}`,
    run: () => gql(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id } } }`, { r }),
    status: 200,
    code: 'BAD_USER_INPUT',
    check: (reply) => {
      expect(reply.body?.data).toBeNull();
      expect(reply.body?.errors).toHaveLength(1);
      expect(reply.body?.errors?.[0]?.message).toMatch(/^representations\[\d\]/);
      expect(reply.body?.errors?.[0]?.message).not.toMatch(/NopeWidget/);
    },
  })),

  // Identifiers
  badInput('an operator-looking string as an email', () => gql(RESOLVE, { kind: 'EMAIL', value: OPERATOR })),
  badInput('an operator-looking string as a phone', () => gql(RESOLVE, { kind: 'PHONE', value: OPERATOR })),
  badInput('an operator-looking string as a CRM id', () => gql(RESOLVE, { kind: 'CRM_ID', value: OPERATOR })),
  badInput('an operator object as the identifier value', () => gql(RESOLVE_ANY, { identifier: { kind: 'EMAIL', value: OPERATOR_OBJECT } }), 400),
  badInput('an email with two @', () => gql(RESOLVE, { kind: 'EMAIL', value: 'jane@@example.com' })),
  badInput('an email without @', () => gql(RESOLVE, { kind: 'EMAIL', value: 'jane.example.com' })),
  badInput('an email without a domain dot', () => gql(RESOLVE, { kind: 'EMAIL', value: 'jane@localhost' })),
  badInput('a phone number that is too short', () => gql(RESOLVE, { kind: 'PHONE', value: '12345' })),
  badInput('a phone number with letters', () => gql(RESOLVE, { kind: 'PHONE', value: '+44 CALL ME NOW' })),
  badInput('an identifier value of 100 KB', () => gql(RESOLVE, { kind: 'CRM_ID', value: 'A'.repeat(10_000) })),
  badInput('an unknown identifier kind in variables', () => gql(RESOLVE, { kind: 'SSN', value: '078-05-1120' }), 400),
  // Name-shaped values are the caller's too (a CRM id is one): the message must not repeat them.
  badInput('an unknown identifier kind that looks like a CRM id, in variables', () => gql(RESOLVE, { kind: 'CRM000001', value: 'x' }), 400),
  { name: 'an unknown identifier kind that looks like a CRM id, as a literal', run: () => gql(`{ resolveCustomer(input: { identifier: { kind: CRM000001, value: "x" } }) { customer { id } } }`), status: 400, code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'a field name that spells a phone number', run: () => gql(`{ _447700900123 }`), status: 400, code: 'GRAPHQL_VALIDATION_FAILED' },
  // graphql-js 16 only fails a subscription at execution: it used to be INTERNAL_SERVER_ERROR, logged as a server error.
  { name: 'a subscription operation (this subgraph has none)', run: () => gql(`subscription { __typename }`), status: 400, code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'an unknown identifier kind as a literal', run: () => gql(`{ resolveCustomer(input: { identifier: { kind: SSN, value: "x" } }) { customer { id } } }`), status: 400, code: 'GRAPHQL_VALIDATION_FAILED' },
  badInput('registering an operator-looking email', () => gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: OPERATOR }] } })),
  badInput('registering an operator object as email', () => gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: OPERATOR_OBJECT }] } }), 400),
  badInput('an unknown input field next to an email (the coercion error must not echo it)', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'echo.me@example.com' }], nickname: 'x' } }), 400),
  badInput('a name-like string where a number is expected (the coercion error must not echo it)', () => gql(AUDIT_PAGE, { id: customerId, first: 'crm_secret_77' }), 400),
  badInput('registering with no identifiers', () => gql(REGISTER, { input: { identifiers: [] } })),
  // The masked display name keeps its first word: an address or number there would reach every agent.
  badInput('a display name that starts with an email address', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-DN-1' }], displayName: 'zed.quux@example.com Smith' } })),
  badInput('a display name that starts with a phone number', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-DN-2' }], displayName: '+447700900987 Doe' } })),
  // The mask would show `\u202eeoD e.` to every agent, reordering how their console displays it.
  badInput('a display name with a right-to-left override', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-DN-3' }], displayName: '\u202eeoD enaJ' } })),
  badInput('an interaction id that is a phone number (the audit trail keeps it)', () =>
    gql(`query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, interactionId: "447700900987" }) { matchedBy } }`, { v: anEmail() })),
  badInput('an interaction id with a phone number split by underscores', () =>
    gql(`query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, interactionId: "call_07700_900_987" }) { matchedBy } }`, { v: anEmail() })),
  badInput('a consent source with a phone number split by underscores', () =>
    gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "ivr_44_7700_900_987" }) { id } }`, { c: customerId })),
  badInput('a consent source with a phone number split by slashes', () =>
    gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "ivr/44/7700/900/987" }) { id } }`, { c: customerId })),
  badInput('a consent source with a phone number split by colons', () =>
    gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "ivr:44:7700:900:987" }) { id } }`, { c: customerId })),
  badInput('a consent source that carries a phone number', () =>
    gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "ivr 07700 900987" }) { id } }`, { c: customerId })),
  // A customer's own CRM id has no shape to refuse, but it is known: free text stored about the customer must not
  // carry it (the masked name keeps its first word; the others stay in grants and audit events for good).
  badInput('a display name that starts with the CRM id registered with it', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ACME-NEWCUST-QX' }], displayName: 'ACME-NEWCUST-QX Smith' } })),
  badInput('a display name that names the CRM id registered with it, in other case', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail() }, { kind: 'CRM_ID', value: 'ACME-NEWCUST-QY' }], displayName: 'acme-newcust-qy Smith' } })),
  // The masked email hides all of the address but its first character; the masked name shows its first word.
  badInput('a display name that holds the local part of the email registered with it', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'zara.quill54403dx@example.com' }], displayName: 'zara.quill54403dx@example Smith' } })),
  badInput('a display name that is the local part of the email registered with it, in other case', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'zara.quill54403dx@example.com' }], displayName: 'Zara.Quill54403DX Smith' } })),
  badInput('a display name whose first word is the local part with a combining mark in it', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'czara.quillb2d0a6dx@example.com' }], displayName: 'czara.\u0301quillb2d0a6dx Smith' } })),
  badInput('a display name whose first word is the local part but for its last character, beside a +tag', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'qzara.quillb2d0a6dx+shop@example.com' }], displayName: 'qzara.quillb2d0a6d Smith' } })),
  badInput('a display name whose first word is the local part with C1 controls in it', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'j.doe1985@c1.example.com' }], displayName: 'j.do\u0080e198\u00805 Smith' } })),
  badInput('a display name whose first word is all of the local part but the character the masked email shows', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'a.b12@tail.example.com' }], displayName: '.b12 Smith' } })),
  badInput('a display name whose first word is the local part with dotted capitals (İ lower-cases to i and a mark)', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'kiki.mi.li7@dotted.example.com' }], displayName: 'kİkİ.mİ.lİ7 Smith' } })),
  badInput('a display name whose first word is the local part with a separator every two characters', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'zara.quill54403dx@dashes.example.com' }], displayName: 'za-ra-.q-ui-ll-54-40-3d-x Smith' } })),
  // A registration refuses those; an identifier linked to an existing customer later met no check, and every agent read
  // `ACME-LATER-QZ S.` and `en-qlatez` once it was the customer's CRM id (a probe).
  { ...badInput('linking a CRM id that the stored display name shows', () => gql(LINK, { id: laterId, kind: 'CRM_ID', value: 'ACME-LATER-QZ' })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/displayName shows this CRM id/) },
  { ...badInput('linking a CRM id that the stored language tag shows', () => gql(LINK, { id: laterId, kind: 'CRM_ID', value: 'QLATEZ' })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/preferredLanguage shows this CRM id/) },
  { ...badInput("linking an email whose local part the stored display name shows", () => gql(LINK, { id: laterNameId, kind: 'EMAIL', value: 'zed.later7q@example.com' })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/displayName shows this email address/) },
  // The stored mask as it is: masked again, a digit initial read as a numbered suffix and went (a regression probe).
  badInput('linking an email whose local part a stored mask with a digit initial shows', () => gql(LINK, { id: laterDigitId, kind: 'EMAIL', value: 'zed.latdfqje7q@example.com' })),
  // Spelt with other separators, in look-alike letters or across words, a CRM id showed all the same (a regression probe).
  badInput('linking a CRM id that the stored display name shows across its words', () => gql(LINK, { id: laterId, kind: 'CRM_ID', value: 'ACMELATERQZS' })),
  // Read in the mask as well, what agents see: `Zedqaq7 Q.` spelt it, the name as given did not (a regression probe).
  badInput('a display name whose mask spells the CRM id registered with it', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ZEDQAQ7Q' }], displayName: 'Zedqaq7 Quill' } })),
  badInput('a display name that spells the CRM id registered with it under an accent', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ACME7Q' }], displayName: '\u00c1cme7q Smith' } })),
  // Most of the phone number beside its masked last four: `447700 S.` and `+********0123` (a regression probe).
  badInput("a display name whose mask shows four or more of the phone number's digits", () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'PHONE', value: '+447700900456' }], displayName: '447700 Smith' } })),
  { ...badInput("linking a phone number whose digits the stored display name shows", () => gql(LINK, { id: laterDigitsId, kind: 'PHONE', value: '+447700900321' })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/displayName shows this phone number/) },
  // The digits it shows read together and in any four in a row, in the national form too: compared as whole runs,
  // `447x700x900 S.` showed all of +447700900204, `077009 S.` the national form (the next regression probe).
  badInput("a display name whose mask shows the phone number's digits between letters", () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'PHONE', value: '+447700900204' }], displayName: '447x700x900 Smith' } })),
  badInput("a display name whose mask shows the phone number's national form", () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'PHONE', value: '+447700900810' }], displayName: '077009 Smith' } })),
  // The masked email's first character and the name's first word give back the whole address (regression probes).
  badInput('a display name whose first word is the local part but for a leading digit, which the masked email shows', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: '7janeq@lead.example.com' }], displayName: 'Janeq Doe' } })),
  badInput('a display name that is the local part but for its leading digit (1max@)', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: '1max@lead.example.com' }], displayName: 'Max Rossi' } })),
  // The last four of a phone number that no mask shows (the second one listed) count (a regression probe).
  badInput("a display name whose mask shows the last four of a second phone number, which no mask shows", () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'PHONE', value: '+447700900123' }, { kind: 'PHONE', value: '+447700900456' }], displayName: 'Studio0456 Ltd' } })),
  // A short piece with a digit of its own is the local part wherever it stands (`Xab12 S.` beside a***@).
  badInput('a display name whose first word holds a short local part with its digits', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: 'ab12@short.example.com' }], displayName: 'Xab12 Smith' } })),
  badInput('a display name that spells the CRM id registered with it with a script g', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ACMEG7' }], displayName: 'Acme\u02617 Smith' } })),
  // Latin letters no decomposition folds (small capitals, strokes): they showed the id all the same (a regression probe).
  badInput('a display name that spells the CRM id registered with it in small capitals', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ACMEOX' }], displayName: '\u1d00\u1d04\u1d0d\u1d07\u1d0fx Smith' } })),
  badInput('a display name that spells the CRM id registered with it with a stroke letter', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ACMEO7' }], displayName: 'Acme\u00f87 Smith' } })),
  badInput('a display name that spells the CRM id registered with it with other separators', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'ACME-X7HKMKT' }], displayName: 'ACME_X7HKMKT Smith' } })),
  // Refused before anything is written: no IDENTITY_RESOLUTION event for the match either.
  badInput('a repeat registration that adds a CRM id the stored display name shows', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'PHONE', value: LATER_PHONE }, { kind: 'CRM_ID', value: 'acme-later-qz' }] } })),
  badInput('a display name that shows nothing (Hangul fillers)', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-DN-5' }], displayName: '\u3164 \u3164' } })),
  badInput('an interaction id that names the CRM id being resolved', () =>
    gql(`query($v: String!) { resolveCustomer(input: { identifier: { kind: CRM_ID, value: $v }, interactionId: "call:ACME-VICTIM-QX" }) { matchedBy } }`, { v: VICTIM_CRM })),
  // Digits after a letter pass the shape check (an id's own), but these are the customer's phone number (a probe).
  { ...badInput('an interaction id that holds the phone number being resolved', () =>
    gql(`query($v: String!, $i: String!) { resolveCustomer(input: { identifier: { kind: PHONE, value: $v }, interactionId: $i }) { matchedBy } }`, { v: VICTIM_PHONE, i: `ivr${VICTIM_PHONE.slice(1)}` })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/interactionId must not contain the identifier being resolved/) },
  // The address being resolved, slugified: refused like the CRM id and phone number being resolved, matched or not (an
  // unmatched lookup kept these in its event, which outlives an erasure; a probe).
  ...[
    ['dots for its @', (email: string) => email.replace('@', '.')],
    ['underscores for every separator', (email: string) => email.replace(/[.@]/g, '_')],
    ['-at- in a slug', (email: string) => email.replace(/[.]/g, '-').replace('@', '-at-')],
    ['a colon for its @', (email: string) => email.replace('@', ':')],
    ['its local part after a prefix', (email: string) => `mail:${email.split('@')[0]!}`],
  ].map(([what, spell]) => ({
    ...badInput(`an interaction id that is the unmatched email being resolved, ${what as string}`, () =>
      gql(`query($v: String!, $i: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, interactionId: $i }) { matchedBy } }`, { v: 'qv8leak.newbie7@example.org', i: (spell as (email: string) => string)('qv8leak.newbie7@example.org') })),
    check: (reply: Reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/interactionId must not contain the identifier being resolved/),
  })),
  { ...badInput('an interaction id that is the unmatched email being resolved, without its +tag', () =>
      gql(`query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, interactionId: "jane.roe.tagged.example.org" }) { matchedBy } }`, { v: 'jane.roe+crm@tagged.example.org' })),
    check: (reply: Reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/interactionId must not contain the identifier being resolved/) },
  { ...badInput("an interaction id that holds the phone number of the customer resolved by email", () =>
    gql(`query($v: String!, $i: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, interactionId: $i }) { matchedBy } }`, { v: VICTIM_EMAIL, i: `x${VICTIM_PHONE.slice(1)}` })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/interactionId must not contain the customer's phone number/) },
  badInput("a consent source that names the customer's CRM id", () =>
    gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "crm/ACME-VICTIM-QX" }) { id } }`, { c: customerId })),
  badInput("a PII justification that names the customer's CRM id", () =>
    gql(`mutation($c: ID!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: "Ticket about acme-victim-qx" }) { id } }`, { c: customerId })),
  badInput("an erasure reason that names the customer's CRM id", () =>
    gql(`mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "dsar-crm-1", reason: "Asked by ACME-VICTIM-QX in writing") { customerId } }`, { c: customerId })),
  badInput("an erasure request id that names the customer's CRM id", () =>
    gql(`mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "dsar:ACME-VICTIM-QX", reason: "Customer request") { customerId } }`, { c: customerId })),
  // The customer's email with its `@` written as another character, or its local part alone (it holds digits): no
  // address shape to refuse, but the customer's own, known by hash (a probe stored both in support records).
  { ...badInput("a ticket id that is the customer's email with a dot for its @", () =>
    gql(`mutation($c: ID!, $t: String!) { recordSupportActivity(input: { customerId: $c, tickets: [{ id: $t, status: "open", openedAt: "2026-11-01T10:00:00Z" }] }) }`, { c: customerId, t: VICTIM_EMAIL.replace('@', '.') })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/must not contain the customer's email address/) },
  // (Its random hex part is sometimes a digit run long enough to be refused as a phone number first.)
  { ...badInput("a device fingerprint that is the local part of the customer's email", () =>
    gql(`mutation($c: ID!, $f: String!) { recordSupportActivity(input: { customerId: $c, deviceFingerprint: $f }) }`, { c: customerId, f: VICTIM_EMAIL.split('@')[0]!.toUpperCase() })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/deviceFingerprint must (not contain the customer's email address|be an opaque token, not a phone number)/) },
  badInput("a PII justification that names the local part of the customer's email", () =>
    gql(`mutation($c: ID!, $j: String!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: $j }) { id } }`, { c: customerId, j: `confirm ${VICTIM_EMAIL.split('@')[0]!} mailbox` })),
  // Slugified into an id (every separator one character), `@` as `#`, or as a space: the shown email is compared by its
  // letters and digits, whatever separates them (a regression probe got each past the forms above).
  { ...badInput("a ticket id that is the customer's email slugified", () =>
    gql(`mutation($c: ID!, $t: String!) { recordSupportActivity(input: { customerId: $c, tickets: [{ id: $t, status: "open", openedAt: "2026-11-01T10:00:00Z" }] }) }`, { c: customerId, t: VICTIM_EMAIL.replace(/[.@]/g, '_') })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/must not contain the customer's email address/) },
  badInput("a ticket subject with the customer's email, # for its @", () =>
    gql(`mutation($c: ID!, $t: String!) { recordSupportActivity(input: { customerId: $c, tickets: [{ id: "T-77", status: "open", openedAt: "2026-11-01T10:00:00Z", subject: $t }] }) }`, { c: customerId, t: `Reply to ${VICTIM_EMAIL.replace('@', '#')}` })),
  badInput("a consent source with the customer's email, a space for its @", () =>
    gql(`mutation($c: ID!, $s: String!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: $s }) { id } }`, { c: customerId, s: `web ${VICTIM_EMAIL.replace('@', ' ')}` })),
  badInput("an erasure reason that names the customer's email with an underscore for its @", () =>
    gql(`mutation($c: ID!, $r: String!) { eraseCustomer(customerId: $c, requestId: "dsar-mail-1", reason: $r) { customerId } }`, { c: customerId, r: `asked from ${VICTIM_EMAIL.replace('@', '_')}` })),
  // Any two letters were a country (`UK`, `ZZ`, `ß` upper-cased to `SS`), and any subtags a language: a phone
  // number or the CRM id was stored in clear and shown in full (a probe).
  ...(['UK', 'ZZ', '\u00df', '\ufb00'] as const).map((country) =>
    badInput(`a country that is not an ISO 3166-1 code (${JSON.stringify(country)})`, () =>
      gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-CTRY-1' }], country } })),
  ),
  badInput('a preferred language whose region is no country', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-LANG-3' }], preferredLanguage: 'en-ZZ' } })),
  badInput('a preferred language with a variant given twice (a RangeError in Intl was a server error)', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-LANG-2' }], preferredLanguage: 'en-oxendict-oxendict' } })),
  { ...badInput('a preferred language whose subtags spell a phone number', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-LANG-1' }], preferredLanguage: 'en-4477-0095-5409' } })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/preferredLanguage must be a BCP 47/) },
  { ...badInput('a preferred language that names the CRM id registered with it', () =>
    gql(REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-BMQ0E0' }], preferredLanguage: 'en-CRM-BMQ0E0' } })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/preferredLanguage must/) },
  // Kept after the erasure (receipts, audit events): the customer's full name there outlived it (a probe).
  { ...badInput("an erasure reason that names the customer", () =>
    gql(`mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "dsar-name-1", reason: "Because Vic Tim wrote in") { customerId } }`, { c: customerId })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/reason must not contain the customer's name/) },
  { ...badInput("an erasure request id that names the customer, surname first, accents and case aside", () =>
    gql(`mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "dsar-TIM-Vi\u0301c-2", reason: "Customer request") { customerId } }`, { c: customerId })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/requestId must not contain the customer's name/) },
  badInput('registering a valid email with an invalid phone', () => gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail() }, { kind: 'PHONE', value: '+1 555' }] } })),
  badInput('linking a malformed email to a real customer', () => gql(LINK, { id: customerId, kind: 'EMAIL', value: 'no-at-sign' })),

  // Numbers and dates
  badInput('a huge page size in variables', () => gql(AUDIT_PAGE, { id: customerId, first: 1_000_000 })),
  badInput('a negative page size', () => gql(AUDIT_PAGE, { id: customerId, first: -1 })),
  badInput('a page size beyond 32-bit Int', () => gql(AUDIT_PAGE, { id: customerId, first: 2 ** 31 }), 400),
  badInput('a date that is not a date', () => gql(AUDIT_PAGE, { id: customerId, from: 'yesterday' }), 400),
  badInput('a date without a time zone', () => gql(AUDIT_PAGE, { id: customerId, from: '2026-11-23T14:25:00' }), 400),
  badInput('the 30th of February', () => gql(AUDIT_PAGE, { id: customerId, from: '2026-02-30T00:00:00Z' }), 400),
  // Year 10000 in UTC would come back as `+010000-01-01T...`, a form the scalar itself refuses.
  badInput('a date whose offset carries it past year 9999', () =>
    gql(`mutation($c: ID!, $e: DateTime!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "web", expiresAt: $e }) { id } }`, { c: customerId, e: '9999-12-31T23:59:59-23:59' }), 400),
  badInput('an invalid date as a literal', () => gql(`{ dataSubjectAccess(customerId: "${customerId}", from: "2026-13-01T00:00:00Z") { customerId } }`), 400),
  badInput('a consent expiry that is not a date', () => gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "web", expiresAt: "soon" }) { id } }`, { c: customerId }), 400),
  badInput('a consent expiry in the past', () => gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "web", expiresAt: "2001-01-01T00:00:00Z" }) { id } }`, { c: customerId })),
  badInput('an unknown consent scope', () => gql(`mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["everything"], source: "web" }) { id } }`, { c: customerId })),
  badInput('a session TTL of zero', () => gql(`mutation($c: ID!) { startSupportSession(customerId: $c, channel: VOICE, ttlSeconds: 0) { token } }`, { c: customerId })),

  // Text that is not valid Unicode: the stores keep U+FFFD instead, so an audit event hashed over it would never verify.
  badInput('an erasure request id with an unpaired surrogate', () =>
    gql(`mutation($c: ID!, $r: String!) { eraseCustomer(customerId: $c, requestId: $r, reason: "asked") { requestId } }`, { c: customerId, r: 'req-\ud800' }), 400),
  badInput('an erasure reason with an unpaired surrogate', () =>
    gql(`mutation($c: ID!, $z: String!) { eraseCustomer(customerId: $c, requestId: "req-1", reason: $z) { requestId } }`, { c: customerId, z: 'customer asked \udc00' }), 400),
  badInput('a PII justification with an unpaired surrogate', () =>
    gql(`mutation($c: ID!, $j: String!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: $j }) { id } }`, { c: customerId, j: 'caller verification \udc00' }), 400),
  badInput('a display name with an unpaired surrogate in a literal', () =>
    gql(`mutation { registerCustomer(input: { identifiers: [{ kind: CRM_ID, value: "CRM-DN-4" }], displayName: "Ann \ud800Lee" }) { id } }`), 400),
  badInput('a variable name with an unpaired surrogate', () => send({ body: JSON.stringify({ query: BY_ID, variables: { id: customerId, ['x\ud800']: 1 } }) }), 400),
  // Nested thousands deep, variables and extensions overflowed the stack of the check above: HTTP 500 (a probe).
  badInput('variables nested 7,000 lists deep', () => send({ body: `{"query":"{ __typename }","variables":{"x":${'['.repeat(7_000)}${']'.repeat(7_000)}}}` }), 400),
  badInput('extensions nested 6,000 levels deep', () => send({ body: `{"query":"{ __typename }","extensions":{"a":${'['.repeat(6_000)}{}${']'.repeat(6_000)}}}` }), 400),
  badInput('variables nested 65 levels deep', () => send({ body: JSON.stringify({ query: BY_ID, variables: { id: customerId, x: JSON.parse(`${'['.repeat(65)}${']'.repeat(65)}`) } }) }), 400),
  badInput('a GET whose variables hold an unpaired surrogate', () =>
    send({ method: 'GET', search: `?query=${encodeURIComponent(BY_ID)}&variables=${encodeURIComponent('{"id":"cus_\\ud800"}')}`, headers: { 'apollo-require-preflight': 'true' } }), 400),

  // Free text
  badInput('a PII justification that carries an email address', () =>
    gql(`mutation($c: ID!, $j: String!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: $j }) { id } }`, { c: customerId, j: `Caller says ${anEmail()}` })),
  badInput('a PII justification with a phone number split by underscores', () =>
    gql(`mutation($c: ID!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: "caller on 07700_900_987 asked" }) { id } }`, { c: customerId })),
  // Invisible letters (Hangul fillers) between the digits ended the digit run: stored, then kept in the grant's event (a probe).
  { ...badInput('a PII justification with a phone number split by Hangul fillers', () =>
    gql(`mutation($c: ID!, $j: String!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: $j }) { id } }`, { c: customerId, j: 'Caller confirmed +44\u31647700\u3164900\u3164987' })), check: (reply) => expect(reply.body?.errors?.[0]?.message).toMatch(/must not contain an email address or phone number/) },
  badInput('a PII access request with a negative TTL', () =>
    gql(`mutation($c: ID!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: "Verify address", ttlSeconds: -5 }) { id } }`, { c: customerId })),
];

beforeAll(async () => {
  app = await startTestApp({ env: { MAX_QUERY_DEPTH: String(MAX_DEPTH), MAX_BODY_BYTES: String(MAX_BODY_BYTES), RATE_LIMIT_SENSITIVE_MAX: '100000' } });
  token = await app.token(ALL_SCOPES, 'agent-bad-input');
  const res = await app.graphql<{ registerCustomer: { id: string } }>(token, REGISTER, {
    input: { identifiers: [{ kind: 'EMAIL', value: VICTIM_EMAIL }, { kind: 'PHONE', value: VICTIM_PHONE }, { kind: 'CRM_ID', value: VICTIM_CRM }], displayName: 'Vic Tim' },
  });
  expect(res.body.errors).toBeUndefined();
  customerId = res.body.data!.registerCustomer.id;
  const later = await app.graphql<{ registerCustomer: { id: string } }>(token, REGISTER, {
    input: { identifiers: [{ kind: 'PHONE', value: LATER_PHONE }], displayName: 'ACME-LATER-QZ Smith', preferredLanguage: 'en-qlatez' },
  });
  expect(later.body.errors).toBeUndefined();
  laterId = later.body.data!.registerCustomer.id;
  const laterName = await app.graphql<{ registerCustomer: { id: string } }>(token, REGISTER, {
    input: { identifiers: [{ kind: 'PHONE', value: LATER_NAME_PHONE }], displayName: 'zed.later7q Smith' },
  });
  expect(laterName.body.errors).toBeUndefined();
  laterNameId = laterName.body.data!.registerCustomer.id;
  // Stored as `zed.latdfqje7q 2.`, which masked again reads `zed.latdfqje7q.` (a numbered suffix dropped).
  const laterDigit = await app.graphql<{ registerCustomer: { id: string } }>(token, REGISTER, {
    input: { identifiers: [{ kind: 'PHONE', value: LATER_DIGIT_PHONE }], displayName: 'zed.latdfqje7q 2b' },
  });
  expect(laterDigit.body.errors).toBeUndefined();
  laterDigitId = laterDigit.body.data!.registerCustomer.id;
  const laterDigits = await app.graphql<{ registerCustomer: { id: string } }>(token, REGISTER, {
    input: { identifiers: [{ kind: 'CRM_ID', value: 'CRM-LATER-PH1' }], displayName: '900321 Smith' },
  });
  expect(laterDigits.body.errors).toBeUndefined();
  laterDigitsId = laterDigits.body.data!.registerCustomer.id;
  const consent = await app.graphql(token, `mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["support_context"], source: "ivr" }) { id } }`, { c: customerId });
  expect(consent.body.errors).toBeUndefined();
});
afterAll(async () => {
  await app?.stop();
});

describe('bad input changes nothing and gets the right error', () => {
  it('has at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const before = await fingerprintStores();
    const reply = await testCase.run();
    expect(reply.status).toBe(testCase.status);
    if (testCase.code === null) expect(reply.body?.errors).toBeUndefined();
    else expect(reply.body?.errors?.[0]?.extensions?.code).toBe(testCase.code);
    testCase.check?.(reply);
    // No message repeats what was sent: no operator, no address.
    for (const error of reply.body?.errors ?? []) expect(error.message).not.toMatch(/\$ne|@example\.com|CALL ME|crm_secret|078-05|CRM000001|447700900123|acme-/i);
    expect(await fingerprintStores()).toEqual(before);
  });

  it('logs none of them as an error of the server', () => {
    const errors = app.logs.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
    expect(errors).toEqual([]);
  });
});

/** Writes raw bytes to the app's port and returns what came back once the server closed the connection (or 3 s). */
function rawHttp(request: string, { halfClose = false }: { halfClose?: boolean } = {}): Promise<string> {
  const { port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(request);
      if (halfClose) socket.end();
    });
    let reply = '';
    const timer = setTimeout(() => socket.destroy(), 3_000);
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
    socket.on('error', reject);
  });
}

describe('ordinary names beside identifiers', () => {
  // Part of a word gives nothing away: `Susana Lopez` beside 1ana@ and `Kevin Lee` beside 4eva@ were refused (a
  // regression probe); names of many scripts with ordinary CRM ids register and link.
  it('registers and links names whose words hold a short piece of the address, and names of other scripts', async () => {
    const cases: Array<[string, Array<{ kind: string; value: string }>]> = [
      ['Susana Lopez', [{ kind: 'EMAIL', value: `1ana.${Date.now().toString(36)}@example.org` }]],
      ['Kevin Lee', [{ kind: 'EMAIL', value: '4eva@kl.example.com' }]],
      ['Nguyễn Thị Đào', [{ kind: 'CRM_ID', value: 'CRM-000123' }, { kind: 'PHONE', value: aPhone() }]],
      ['Łukasz Żółć', [{ kind: 'CRM_ID', value: 'ACME-2024-001' }]],
      ['Søren Kierkegaard 1813', [{ kind: 'CRM_ID', value: 'C123456' }]],
      // A digit the masked email shows beside the rest of the local part in the name, but not as whole words.
      ['Maxine Rossi', [{ kind: 'EMAIL', value: `1max.${Date.now().toString(36)}@example.org` }]],
      // Digits that are the phone's last four, which its mask shows anyway.
      ['Studio2024 Ltd', [{ kind: 'PHONE', value: '+14155552024' }]],
      ['24x7x365 Support', [{ kind: 'PHONE', value: '+14155557365' }]],
      // The country code and a toll-free prefix identify nobody.
      ['1800Contacts Inc', [{ kind: 'PHONE', value: '+18002667250' }]],
      ['Apartment 1201 Smith', [{ kind: 'PHONE', value: '+447700901201' }]],
    ];
    for (const [displayName, identifiers] of cases) {
      const reply = await gql(REGISTER, { input: { identifiers, displayName } });
      expect(reply.body?.errors, displayName).toBeUndefined();
    }
  });
});

describe("the customer's own email in other forms", () => {
  it("refuses a second email's address with @ written as # or slugified, and passes ordinary text", async () => {
    const second = `pat.second${Date.now().toString(36)}@mail.other.org`;
    expect((await gql(LINK, { id: customerId, kind: 'EMAIL', value: second })).body?.errors).toBeUndefined();
    const push = (subject: string) =>
      gql(`mutation($c: ID!, $t: String!) { recordSupportActivity(input: { customerId: $c, tickets: [{ id: "T-78", status: "open", openedAt: "2026-11-01T10:00:00Z", subject: $t }] }) }`, { c: customerId, t: subject });
    for (const form of [second.replace('@', '#'), second.replace(/[.@]/g, '-'), second.replace('@', '.')]) {
      const reply = await push(`Bounce from ${form}`);
      expect(reply.body?.errors?.[0]?.message, form).toMatch(/must not contain the customer's email address/);
    }
    // Ordinary support text passes: versions, hosts, order numbers, another person's slugified address.
    const ordinary = await push('Build v1.2.3 on shop.example.com, order A-1234 for other_person_example_com');
    expect(ordinary.body?.errors).toBeUndefined();
  });

  it("passes ordinary text beside short, role and big-provider addresses, and refuses the address in whole words", async () => {
    // The letters of the whole text, word boundaries ignored, refused all of these (a regression probe).
    const cases: Array<[string, string[], string[]]> = [
      ['a@b.co', ['Lab coat order shipped'], []],
      ['tom01@web.de', ['Custom 01 plan renewal'], ['Reply from tom01', 'tom01 web de']],
      ['anna@web.de', ['Anna webdesign package upgrade'], ['anna_web_de', 'mail anna web de']],
      ['info@shop.de', ['Info: shop delivery delayed'], ['info-shop-de']],
      ['billing@contoso.com', ['Billing: Contoso commercial invoice overdue'], ['billing.contoso.com']],
      // A local part with letters and digits is looked for within one token, not across spaces (a regression probe).
      ['iphone15@gmail.com', ['iPhone 15 screen cracked'], ['Device iphone15', 'ref iPhone-15']],
      ['jan2025@web.de', ['Invoice Jan 2025 disputed'], ['from jan2025']],
      ['max.mustermann@firma.de', ['Max Mustermann at the Firma office'], ['max-mustermann-at-firma-de']],
      // The mailbox without its +tag, when five letters or digits are left of it (the domain alone was refused).
      ['jane.roe+crm@tagged.example.org', ['Jane Roe called'], ['jane.roe.tagged.example.org', 'jane-roe-crm-tagged-example-org']],
      ['+news@gmail.com', ['Customer could not log in to gmail.com'], ['news gmail com']],
      ['my+shop@gmail.com', ['Cannot access my gmail.com account'], ['my_shop_gmail_com']],
      // A short mailbox left of the tag: its slug within one token (it passed when only five or more letters were looked for).
      ['tom+crm@web.de', ['Tom from web de sales'], ['tom#web.de', 'tom-at-web-de', 'ref tom_web_de']],
    ];
    for (const [email, passes, refused] of cases) {
      const registered = await gql(REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
      const id = (registered.body?.data as { registerCustomer: { id: string } }).registerCustomer.id;
      const push = (subject: string) =>
        gql(`mutation($c: ID!, $t: String!) { recordSupportActivity(input: { customerId: $c, tickets: [{ id: "T-79", status: "open", openedAt: "2026-11-01T10:00:00Z", subject: $t }] }) }`, { c: id, t: subject });
      for (const subject of passes) expect((await push(subject)).body?.errors, `${email}: ${subject}`).toBeUndefined();
      for (const subject of refused) expect((await push(subject)).body?.errors?.[0]?.message, `${email}: ${subject}`).toMatch(/must not contain the customer's email address/);
    }
  });

  // The address the request itself brings, not stored yet: an unmatched lookup, a registration, a link (a probe found
  // each kept in the events, which outlive an erasure, and in the log).
  it.each([
    ['resolved, unmatched', 'kw5leak.doe1@example.org', (v: string) => ({ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: VOICE }) { auditEventId } }`, variables: { v } })],
    ['registered', 'mv3leak.reg1@example.org', (v: string) => ({ query: REGISTER, variables: { input: { identifiers: [{ kind: 'EMAIL', value: v }] } } })],
    ['linked', 'qv8leak.second1@example.org', (v: string) => ({ query: `mutation($c: ID!, $v: String!) { linkIdentifier(customerId: $c, identifier: { kind: EMAIL, value: $v }) { id } }`, variables: { c: customerId, v } })],
    // Refused for something else: the screen came after the checks, and such requests logged both (a regression probe).
    ['resolved, refused for its interaction id', 'pe1leak.doe1@example.org', (v: string) => ({ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, interactionId: "bad id with spaces" }) { auditEventId } }`, variables: { v } })],
    ['registered, refused for its country', 'pe2leak.doe2@example.org', (v: string) => ({ query: REGISTER, variables: { input: { identifiers: [{ kind: 'EMAIL', value: v }], country: 'ZZ' } } })],
    ['linked to nobody', 'pe3leak.doe3@example.org', (v: string) => ({ query: `mutation($c: ID!, $v: String!) { linkIdentifier(customerId: $c, identifier: { kind: EMAIL, value: $v }) { id } }`, variables: { c: 'cus_00000000000000000000000000', v } })],
    // The mailbox without its +tag (a regression probe).
    ['resolved with a +tag, spelled without it', 'jane.roe+crm@tagged.example.org', (v: string) => ({ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v } }) { auditEventId } }`, variables: { v } })],
  ])('does not adopt an x-request-id that spells the email being %s', async (what, email, body) => {
    const slug = email.replace(/\+[^@]*/, '').replace('@', '.');
    // The operation name too, camel case run into the address: `Sendkw5leak_doe1_example_org`.
    const operationName = `Send${slug[0]!.toUpperCase()}${slug.slice(1).replace(/[.@]/g, '_')}`;
    const named = body(email);
    const query = named.query.replace(/^(query|mutation)(\s+\w+)?/, `$1 ${operationName}`);
    const completed = () => app.logs.text().split('\n').filter((line) => line.includes('"request completed"')).length;
    const before = completed();
    const reply = await send({ body: JSON.stringify({ ...named, query, operationName }), headers: { 'x-request-id': slug } });
    // The line is written after the response (its operation name screened first).
    for (let waited = 0; completed() === before && waited < 2_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(completed()).toBe(before + 1);
    if (/refused|nobody/.test(what)) expect(reply.body?.errors?.length).toBe(1);
    else expect(reply.body?.errors).toBeUndefined();
    expect(app.logs.text()).not.toContain(slug);
    expect(app.logs.text()).not.toContain(operationName);
    const events = await app.app.mongo.db.collection('audit_events').find({ requestId: slug }).toArray();
    expect(events).toEqual([]);
  });

  // Refused before any resolver reads the address: for a missing scope, a variable of the wrong type, a field it cannot
  // select, another identifier of the same registration; the address written in the query (a regression probe).
  it.each([
    ['refused for a missing scope', 'zq8leak.roe1@example.com', (v: string) => ({ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v } }) { auditEventId } }`, variables: { v } }), ['consent:read']],
    ['refused for a variable of the wrong type', 'zq8leak.roe2@example.com', (v: string) => ({ query: `query($v: String!, $c: Channel!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: $c }) { auditEventId } }`, variables: { v, c: 'FAX' } }), null],
    ['refused for a field it cannot select', 'zq8leak.roe3@example.com', (v: string) => ({ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v } }) { nope } }`, variables: { v } }), null],
    ['refused for another identifier', 'kw7leak.doe4@example.com', (v: string) => ({ query: REGISTER, variables: { input: { identifiers: [{ kind: 'EMAIL', value: v }, { kind: 'PHONE', value: 'abc' }] } } }), null],
    ['written in the query', 'kw7leak.doe5@example.com', (v: string) => ({ query: `query { resolveCustomer(input: { identifier: { kind: EMAIL, value: "${v}" } }) { nope } }` }), null],
    ['written in the query with its @ escaped', 'kw7leak.doe6@example.com', (v: string) => ({ query: `query { resolveCustomer(input: { identifier: { kind: EMAIL, value: "${v.replace('@', '\\u0040')}" } }) { nope } }` }), null],
    ['written in the query as a block string', 'kw7leak.doe7@example.com', (v: string) => ({ query: `query { resolveCustomer(input: { identifier: { kind: EMAIL, value: """\n  ${v}\n""" } }) { nope } }` }), null],
  ])('does not log an x-request-id or operation name that spells the email of a request %s', async (_what, email, body, scopes) => {
    const slug = email.replace('@', '.');
    const operationName = `Send${slug[0]!.toUpperCase()}${slug.slice(1).replace(/[.@]/g, '_')}`;
    const named = body(email);
    const query = named.query.replace(/^(query|mutation)(\s+\w+)?/, `$1 ${operationName}`);
    const completed = () => app.logs.text().split('\n').filter((line) => line.includes('"request completed"')).length;
    const before = completed();
    const auth = scopes === null ? undefined : `Bearer ${await app.token(scopes as string[], 'agent-refused')}`;
    const reply = await send({ body: JSON.stringify({ ...named, query, operationName }), headers: { 'x-request-id': slug }, auth });
    expect(reply.body?.errors?.length).toBeGreaterThan(0);
    for (let waited = 0; completed() === before && waited < 2_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(completed()).toBe(before + 1);
    expect(app.logs.text()).not.toContain(slug);
    expect(app.logs.text()).not.toContain(operationName);
  });

  // Apollo refuses a batch, after the screen: each operation's identifiers are read all the same (a regression probe).
  it('does not log an x-request-id that spells an email a refused batch sends', async () => {
    const email = 'kx9leak.doe7@example.org';
    const slug = email.replace('@', '.');
    const completed = () => app.logs.text().split('\n').filter((line) => line.includes('"request completed"')).length;
    const before = completed();
    const reply = await send({
      body: JSON.stringify([{ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v } }) { auditEventId } }`, variables: { v: email } }]),
      headers: { 'x-request-id': slug },
    });
    expect(reply.status).toBe(400);
    for (let waited = 0; completed() === before && waited < 2_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(app.logs.text()).not.toContain(slug);
  });

  // In one pass: a regex over the query started again at every quote, and 100 KB of `"\` in a comment held the process
  // for 0.85 s, from a caller with no scope (a regression probe). Not a performance target: quadratic took seconds.
  it('reads the string literals of a large query in one pass', () => {
    const started = performance.now();
    app.app.services.customers.screenIdentifiersSent({ query: `{ __typename } #${'"\\'.repeat(25_000)}` });
    app.app.services.customers.screenIdentifiersSent({ query: `{ __typename(a: ${'"\\"'.repeat(25_000)}) }` });
    expect(performance.now() - started).toBeLessThan(300);
  });

  it.each([
    ['a dot', (email: string) => email.replace('@', '.')],
    ['-at- in a slug', (email: string) => email.replace(/[.]/g, '-').replace('@', '-at-')],
  ])("does not adopt an x-request-id that is a customer's email with its @ written as %s", async (_what, spell) => {
    const slug = spell(VICTIM_EMAIL);
    const reply = await send({
      body: JSON.stringify({ query: `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: VOICE }) { auditEventId } }`, variables: { v: VICTIM_EMAIL } }),
      headers: { 'x-request-id': slug },
    });
    expect(reply.body?.errors).toBeUndefined();
    expect(app.logs.text()).not.toContain(slug);
    const events = await app.app.mongo.db.collection('audit_events').find({ customerId }).toArray();
    expect(JSON.stringify(events)).not.toContain(slug);
  });
});

describe('HTTP requests the server cannot read', () => {
  const serverErrors = () => app.logs.lines.map((l) => JSON.parse(l) as { level: number }).filter((l) => l.level >= 50).length;
  const count500 = async () => {
    const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
    return text.split('\n').filter((line) => line.startsWith('veil_http_requests_total') && line.includes('status="500"')).length;
  };

  // `new URL` threw on these outside the handler's try, and the rejection ended the process (a probe).
  it.each(['//', '/\\'])('answers a request target URL cannot read (%j) with 400 and keeps serving', async (target) => {
    const reply = await rawHttp(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toContain('"extensions":{"code":"BAD_REQUEST"}');
    expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
  });

  it('answers a request Node cannot parse in the GraphQL error shape, and keeps serving', async () => {
    for (const raw of ['GARBAGE\r\n\r\n', 'GET /graphql HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', 'get /health/live HTTP/1.1\r\nHost: x\r\n\r\n']) {
      const reply = await rawHttp(raw);
      expect(reply).toMatch(/^HTTP\/1\.1 400 /);
      expect(reply).toContain('{"errors":[{"message":"The request is not valid HTTP","extensions":{"code":"BAD_REQUEST"}}]}');
      // The headers every answer of the server has (a probe found these without them).
      expect(reply.toLowerCase()).toContain('\r\nx-content-type-options: nosniff\r\n');
      expect(reply.toLowerCase()).toContain('\r\ncache-control: no-store\r\n');
      expect(reply.toLowerCase()).toContain('\r\ncontent-type: application/json; charset=utf-8\r\n');
    }
    const huge = await rawHttp(`GET /graphql HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge.toLowerCase()).toContain('\r\nx-content-type-options: nosniff\r\n');
    expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
  });

  // Node looks for requests past their time every 30 s by default: a client trickling its headers or body got its
  // 408 after 60 s, twice the limit (a probe). With the limit at 1.5 s here, it comes within a second of it.
  it('answers 408 within a second of the request timeout to a client trickling its headers or its body', async () => {
    const slow = await startTestApp({ requestTimeoutMs: 1_500 });
    try {
      const { port } = new URL(slow.url);
      const slowToken = await slow.token(['customer:read']);
      const trickle = (head: string, drip: string) =>
        new Promise<{ reply: string; elapsed: number }>((resolve, reject) => {
          const started = Date.now();
          let reply = '';
          const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
          const timer = setInterval(() => socket.writable && socket.write(drip), 200);
          const guard = setTimeout(() => socket.destroy(), 10_000);
          socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
          socket.on('close', () => {
            clearInterval(timer);
            clearTimeout(guard);
            resolve({ reply, elapsed: Date.now() - started });
          });
          socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)));
        });
      const [headers, body] = await Promise.all([
        trickle('GET /health/live HTTP/1.1\r\nHost: x\r\n', 'x-a: 1\r\n'),
        trickle(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${slowToken}\r\nContent-Length: 2000\r\n\r\n{`, ' '),
      ]);
      for (const { reply, elapsed } of [headers, body]) {
        expect(reply).toMatch(/^HTTP\/1\.1 408 /);
        expect(reply).toContain('The request took too long to arrive');
        expect(elapsed).toBeGreaterThanOrEqual(1_400);
        expect(elapsed).toBeLessThan(4_000);
      }
    } finally {
      await slow.stop();
    }
  }, 30_000);

  // With MAX_TOKENS raised, inline fragments nested 3,500 deep (which the depth rule flattens) parsed, then overflowed
  // the stack while executing: HTTP 500, INTERNAL_SERVER_ERROR (a regression probe).
  it('refuses a document nested deeper than the parser and executor recurse, whatever MAX_TOKENS allows', async () => {
    const roomy = await startTestApp({ env: { MAX_TOKENS: '100000' } });
    try {
      const agent = await roomy.token(['customer:read']);
      const chain = Array.from({ length: 2000 }, (_, i) => `fragment F${i} on Query { __typename${i < 1999 ? ` ...F${i + 1}` : ''} }`).join(' ');
      // 30 fragments spreading one another, each nesting 199 inline fragments: each under the limit, 5,970 levels
      // spelled out, which overflowed the executor (a regression probe).
      const nestedChain = Array.from({ length: 30 }, (_, f) => `fragment N${f} on Query { ${'... { '.repeat(199)}${f < 29 ? `...N${f + 1}` : '__typename'}${' }'.repeat(199)} }`).join('\n');
      const refusals = [
        [`{ ${'...{ '.repeat(5000)}__typename${' }'.repeat(5000)} }`, /nests braces, brackets or parentheses deeper than 200 levels/],
        [`{ customer(id: ${'['.repeat(5000)}"x"${']'.repeat(5000)}) { id } }`, /deeper than 200 levels/],
        [`query Q { ...N0 }\n${nestedChain}`, /deeper than 200 levels, fragments spelled out in place/],
        [`query Q { ...F0 } ${chain}`, /^The document defines more than 200 named fragments$/],
      ] as const;
      for (const [query, message] of refusals) {
        const reply = await roomy.graphql(agent, query);
        expect(reply.status).toBe(400);
        expect(reply.body.errors?.[0]?.extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit: 'depth', maximum: 200 });
        expect(reply.body.errors?.[0]?.message).toMatch(message);
      }
      // The same chain of 30 fragments nesting 5 levels each is an ordinary document.
      const shallowChain = nestedChain.replaceAll('... { '.repeat(199), '... { '.repeat(5)).replaceAll(' }'.repeat(199), ' }'.repeat(5));
      expect((await roomy.graphql(agent, `query Q { ...N0 }\n${shallowChain}`)).body).toEqual({ data: { __typename: 'Query' } });
      // Nesting written inside a string is no nesting.
      const quoted = await roomy.graphql(agent, `{ customer(id: "${'{'.repeat(500)}") { id } }`);
      expect(quoted.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    } finally {
      await roomy.stop();
    }
  }, 60_000);

  // A malformed chunk or a body cut short is the client's doing: it was logged as a server error, counted as a 500.
  it('treats a body cut short or malformed in transit as the client\'s error', async () => {
    const [errorsBefore, fivesBefore] = [serverErrors(), await count500()];
    const head = `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\n`;
    await rawHttp(`${head}Transfer-Encoding: chunked\r\n\r\nZZ\r\n`);
    await rawHttp(`${head}Content-Length: 1000\r\n\r\n{"query":`, { halfClose: true });
    expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
    expect(serverErrors()).toBe(errorsBefore);
    expect(await count500()).toBe(fivesBefore);
  });
});
