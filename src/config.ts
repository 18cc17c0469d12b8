import { z } from 'zod';
import { collectProblem, ConfigError } from './errors.js';
import { HmacKeyring } from './identity/hmac-keyring.js';
import { PiiEnvelope } from './identity/pii-envelope.js';

/**
 * The only reader of process.env. Every variable is validated here; a bad value
 * stops start-up with one line per problem, each naming the variable.
 * In production every secret and URL is required; in development and test the
 * dev launcher fills what is missing (local services, generated dev keys).
 */
export type RuntimeEnv = 'production' | 'development' | 'test';

export interface AppConfig {
  env: RuntimeEnv;
  port: number;
  host: string;
  mongodbUrl: string | null;
  mongodbDb: string;
  /** A separate MongoDB for the audit trail (null: the main one). */
  auditMongodbUrl: string | null;
  /** The audit trail's database (null: MONGODB_DB). */
  auditMongodbDb: string | null;
  /** The driver's command monitoring, for the failed-command counter; off by default (it costs CPU on every command). */
  mongodbCommandMonitoring: boolean;
  redisUrl: string | null;
  redisKeyPrefix: string;
  authJwksUrl: string | null;
  authJwksFile: string | null;
  authIssuer: string | null;
  authAudience: string | null;
  authClockToleranceSeconds: number;
  /** How long a verified token's caller is reused without verifying the signature again (0: never). */
  authVerifiedCacheSeconds: number;
  identityHmacKeys: string | null;
  piiMasterKey: string | null;
  /** The master key being rotated away from (`npm run master-key:rotate`); null when none is. */
  piiMasterKeyPrevious: string | null;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  snapshotTtlSeconds: number;
  /** How many of each section (tickets, subscriptions, transactions, interactions) a context snapshot keeps. */
  snapshotRecentItems: number;
  /** Retention: the most recently received versions of each kind of support record kept per customer. */
  supportRecordsKeptPerKind: number;
  sessionTtlSeconds: number;
  sessionMaxTtlSeconds: number;
  sessionsPerCustomerMax: number;
  sessionsPerCallerMax: number;
  grantTtlSeconds: number;
  grantMaxTtlSeconds: number;
  rateLimitWindowSeconds: number;
  /** How long a stopping server waits for requests in flight before it exits anyway. */
  shutdownGraceSeconds: number;
  rateLimitSensitiveMax: number;
  maxBodyBytes: number;
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
  introspection: boolean;
  /** `@requiresScopes` from the field policy in `_service { sdl }` (GraphOS Router). Off for @apollo/gateway, which refuses them. */
  policyRouterDirectives: boolean;
  /** Bench-only: serve without the field policy. Refused in production. */
  policyDisabled: boolean;
}

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? null : v))
  .nullable()
  .default(null);

/** Decimal digits only (no `0x10`, `1e3` or `1.5`); empty or unset gives the default. */
const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim() ?? '';
      if (value === '') return fallback;
      const n = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

/**
 * `true`/`1` or `false`/`0`; empty or unset gives the default. Empty read as false until a probe: a manifest's
 * `POLICY_ROUTER_DIRECTIVES: ""` served the SDL without `@requiresScopes`, whose default is true, with no word.
 */
const boolFlag = optionalString
  .refine((v) => v === null || ['true', 'false', '1', '0'].includes(v), 'must be true, false, 1 or 0 (empty means the default)')
  .transform((v) => (v === null ? undefined : v === 'true' || v === '1'));

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Whether a MongoDB URL lists an empty host (`mongodb://a:27017,`): the driver then invents one it cannot parse and
 * throws that from its monitor, with no listener, after refusing the connection (a maintenance command died with a
 * stack trace; seen by hand).
 */
export function listsEmptyMongoHost(url: string): boolean {
  const authority = url.replace(/^mongodb(\+srv)?:\/\//, '').split(/[/?]/, 1)[0] ?? '';
  return authority.slice(authority.lastIndexOf('@') + 1).split(',').some((host) => host.trim() === '');
}
export const MONGO_HOSTS_RULE = 'must list its hosts without an empty one (a trailing or doubled comma)';

const urlWithScheme = (schemes: string[]) =>
  optionalString.refine(
    (v) => v === null || schemes.some((s) => v.startsWith(`${s}://`)),
    `must be a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`,
  );

/**
 * A database name of this service's own: MongoDB reserves `admin`, `local` and `config` (a probe started on each;
 * `local` is not replicated, so its data would be lost on a failover). Compared without case, as MongoDB refuses
 * two names that differ only in case.
 */
const RESERVED_DATABASES = new Set(['admin', 'local', 'config']);
export const databaseName = (v: string): boolean => /^[A-Za-z0-9_-]{1,63}$/.test(v) && !RESERVED_DATABASES.has(v.toLowerCase());
export const DATABASE_NAME_RULE = 'must be 1-63 letters, digits, _ or -, and not admin, local or config (reserved by MongoDB)';

const EnvSchema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test'], { error: 'must be production, development or test (empty is refused: its default, development, starts local services and trusts a dev key)' }).default('development'),
  PORT: int(0, 65535, 4001),
  // Empty means the default, as for the numbers (`value: ""` in a manifest): `HOST=` was refused in zod's own words.
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  MONGODB_URL: urlWithScheme(['mongodb', 'mongodb+srv']).refine((v) => v === null || !listsEmptyMongoHost(v), MONGO_HOSTS_RULE),
  MONGODB_DB: optionalString.transform((v) => v ?? 'veil').refine(databaseName, DATABASE_NAME_RULE),
  AUDIT_MONGODB_URL: urlWithScheme(['mongodb', 'mongodb+srv']).refine((v) => v === null || !listsEmptyMongoHost(v), MONGO_HOSTS_RULE),
  MONGODB_COMMAND_MONITORING: boolFlag,
  AUDIT_MONGODB_DB: optionalString.refine((v) => v === null || databaseName(v), DATABASE_NAME_RULE),
  REDIS_URL: urlWithScheme(['redis', 'rediss']).refine(
    (v) => v === null || isRedisDatabasePath(v),
    'must be a URL whose path or db parameter, if any, is a database number (redis://host:6379/0), not two different ones',
  ),
  // Empty means the default here too (these were refused empty, in zod's own words; a probe).
  REDIS_KEY_PREFIX: optionalString.transform((v) => v ?? 'veil:').refine((v) => /^[A-Za-z0-9:_-]{1,32}$/.test(v), 'must be 1-32 letters, digits, :, _ or -'),
  // Parsed as a URL too: `https://` passed and start-up failed on `TypeError: ERR_INVALID_URL`, naming nothing (a probe).
  AUTH_JWKS_URL: optionalString
    .refine((v) => v === null || v.startsWith('https://') || v.startsWith('http://'), 'must be a URL starting with https:// (http:// outside production)')
    .refine((v) => v === null || URL.canParse(v), 'is not a URL (https://issuer.example/.well-known/jwks.json)')
    // fetch refuses a URL with a user name or password in it, so every fetch failed and every token was refused; the
    // start only warned, naming a TypeError (a probe). The message never repeats the URL.
    .refine((v) => v === null || !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''), 'must not hold a user name or password (fetch refuses such URLs)'),
  AUTH_JWKS_FILE: optionalString,
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_CLOCK_TOLERANCE_SECONDS: int(0, 300, 30),
  AUTH_VERIFIED_CACHE_SECONDS: int(0, 300, 60),
  IDENTITY_HMAC_KEYS: optionalString,
  PII_MASTER_KEY: optionalString,
  PII_MASTER_KEY_PREVIOUS: optionalString,
  VEIL_DATA_DIR: optionalString.transform((v) => v ?? '.data'),
  LOG_LEVEL: optionalString.refine((v) => v === null || (LOG_LEVELS as readonly string[]).includes(v), `must be one of ${LOG_LEVELS.join(', ')}`),
  SNAPSHOT_TTL_SECONDS: int(5, 86_400, 900),
  SNAPSHOT_RECENT_ITEMS: int(1, 50, 5),
  // At least one push's worth (100 per section): a push never drops its own records.
  SUPPORT_RECORDS_KEPT_PER_KIND: int(100, 1_000_000, 1000),
  SESSION_TTL_SECONDS: int(5, 86_400, 1800),
  SESSION_MAX_TTL_SECONDS: int(5, 86_400, 4 * 3600),
  SESSIONS_PER_CUSTOMER_MAX: int(1, 10_000, 200),
  SESSIONS_PER_CALLER_MAX: int(1, 10_000, 10),
  PII_GRANT_TTL_SECONDS: int(5, 86_400, 900),
  PII_GRANT_MAX_TTL_SECONDS: int(5, 86_400, 3600),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 3600, 60),
  SHUTDOWN_GRACE_SECONDS: int(1, 3600, 25),
  RATE_LIMIT_SENSITIVE_MAX: int(1, 1_000_000, 120),
  MAX_BODY_BYTES: int(1024, 10 * 1024 * 1024, 100 * 1024),
  MAX_QUERY_DEPTH: int(2, 64, 12),
  MAX_ALIASES: int(1, 1000, 30),
  MAX_TOKENS: int(100, 100_000, 5000),
  MAX_QUERY_COST: int(100, 10_000_000, 50_000),
  INTROSPECTION: boolFlag,
  POLICY_ROUTER_DIRECTIVES: boolFlag,
  VEIL_BENCH_DISABLE_POLICY: boolFlag,
});

/**
 * ioredis sends the URL's path, or its `db` parameter, as SELECT's argument: anything but a number fails at the first
 * connection (`?db=x` crashed the start with a ReplyError and a stack trace; a probe). Given both, it takes the path
 * and ignores the parameter: two different numbers are refused (`/0?db=2` wrote to database 0; a probe).
 */
function isRedisDatabasePath(url: string): boolean {
  try {
    const parsed = new URL(url);
    const db = parsed.searchParams.getAll('db');
    const path = /^\/?(\d{1,5})?$/.exec(parsed.pathname);
    // ioredis reads `db` as written only: `?DB=3` used database 0 without a word (a regression probe).
    const misspelt = [...parsed.searchParams.keys()].some((key) => key !== 'db' && key.toLowerCase() === 'db');
    if (path === null || misspelt || db.length > 1 || !db.every((value) => /^\d{1,5}$/.test(value))) return false;
    return path[1] === undefined || db.length === 0 || Number(path[1]) === Number(db[0]);
  } catch {
    return false;
  }
}

type Env = Record<string, string | undefined>;

/** Parses the environment. Throws ConfigError with one line per problem. */
export function loadConfig(env: Env): AppConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const invalid = new Set(parsed.error.issues.map((issue) => String(issue.path[0] ?? 'environment')));
    // One line per variable, its first problem: `REDIS_URL=garbage` printed two (a probe).
    const first = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'environment');
      if (!first.has(name)) first.set(name, issue.message);
    }
    const lines = [...first].map(([name, message]) => `${name}: ${message}`);
    // The rest is still checked, so that one bad value (a PORT) does not hide the next (a short key): each variable
    // that failed is left out, and a line about it from the checks below would only repeat it.
    const rest = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([name]) => !invalid.has(name))));
    if (rest.success) lines.push(...problemsOf(rest.data).filter((line) => !invalid.has(line.slice(0, line.indexOf(':')))));
    throw new ConfigError(lines.join('\n'));
  }
  const e = parsed.data;
  const problems = problemsOf(e);
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return toConfig(e);
}

/** What the schema alone cannot see: what production requires, and values that must agree. One line each. */
function problemsOf(e: z.infer<typeof EnvSchema>): string[] {
  const problems: string[] = [];
  const isProduction = e.NODE_ENV === 'production';

  if (isProduction) {
    const required: Array<[string, string | null]> = [
      ['MONGODB_URL', e.MONGODB_URL],
      ['REDIS_URL', e.REDIS_URL],
      ['AUTH_ISSUER', e.AUTH_ISSUER],
      ['AUTH_AUDIENCE', e.AUTH_AUDIENCE],
      ['IDENTITY_HMAC_KEYS', e.IDENTITY_HMAC_KEYS],
      ['PII_MASTER_KEY', e.PII_MASTER_KEY],
    ];
    for (const [name, value] of required) {
      if (value === null) problems.push(`${name}: is required when NODE_ENV=production`);
    }
    if (e.AUTH_JWKS_URL === null && e.AUTH_JWKS_FILE === null) {
      problems.push('AUTH_JWKS_URL: one of AUTH_JWKS_URL or AUTH_JWKS_FILE is required when NODE_ENV=production');
    }
    if (e.AUTH_JWKS_URL !== null && e.AUTH_JWKS_URL.startsWith('http://')) {
      problems.push('AUTH_JWKS_URL: must use https:// when NODE_ENV=production');
    }
    if (e.VEIL_BENCH_DISABLE_POLICY === true) {
      problems.push('VEIL_BENCH_DISABLE_POLICY: the field policy cannot be switched off in production');
    }
  }
  if (e.AUTH_JWKS_URL !== null && e.AUTH_JWKS_FILE !== null) {
    problems.push('AUTH_JWKS_FILE: give AUTH_JWKS_URL or AUTH_JWKS_FILE, not both');
  }
  if (e.IDENTITY_HMAC_KEYS !== null) collectProblem(problems, () => HmacKeyring.parse(e.IDENTITY_HMAC_KEYS as string));
  if (e.PII_MASTER_KEY !== null) problems.push(...PiiEnvelope.problemsWith(e.PII_MASTER_KEY, e.PII_MASTER_KEY_PREVIOUS));
  else if (e.PII_MASTER_KEY_PREVIOUS !== null) problems.push('PII_MASTER_KEY_PREVIOUS: is given without PII_MASTER_KEY', ...PiiEnvelope.problemsWith(null, e.PII_MASTER_KEY_PREVIOUS));
  if (e.SESSION_TTL_SECONDS > e.SESSION_MAX_TTL_SECONDS) {
    problems.push('SESSION_TTL_SECONDS: must not exceed SESSION_MAX_TTL_SECONDS');
  }
  if (e.PII_GRANT_TTL_SECONDS > e.PII_GRANT_MAX_TTL_SECONDS) {
    problems.push('PII_GRANT_TTL_SECONDS: must not exceed PII_GRANT_MAX_TTL_SECONDS');
  }
  return problems;
}

function toConfig(e: z.infer<typeof EnvSchema>): AppConfig {
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    mongodbUrl: e.MONGODB_URL,
    mongodbDb: e.MONGODB_DB,
    auditMongodbUrl: e.AUDIT_MONGODB_URL,
    auditMongodbDb: e.AUDIT_MONGODB_DB,
    mongodbCommandMonitoring: e.MONGODB_COMMAND_MONITORING ?? false,
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    authJwksUrl: e.AUTH_JWKS_URL,
    authJwksFile: e.AUTH_JWKS_FILE,
    authIssuer: e.AUTH_ISSUER,
    authAudience: e.AUTH_AUDIENCE,
    authClockToleranceSeconds: e.AUTH_CLOCK_TOLERANCE_SECONDS,
    authVerifiedCacheSeconds: e.AUTH_VERIFIED_CACHE_SECONDS,
    identityHmacKeys: e.IDENTITY_HMAC_KEYS,
    piiMasterKey: e.PII_MASTER_KEY,
    piiMasterKeyPrevious: e.PII_MASTER_KEY_PREVIOUS,
    dataDir: e.VEIL_DATA_DIR,
    logLevel: (e.LOG_LEVEL as (typeof LOG_LEVELS)[number] | null) ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
    snapshotTtlSeconds: e.SNAPSHOT_TTL_SECONDS,
    snapshotRecentItems: e.SNAPSHOT_RECENT_ITEMS,
    supportRecordsKeptPerKind: e.SUPPORT_RECORDS_KEPT_PER_KIND,
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    sessionMaxTtlSeconds: e.SESSION_MAX_TTL_SECONDS,
    sessionsPerCustomerMax: e.SESSIONS_PER_CUSTOMER_MAX,
    sessionsPerCallerMax: e.SESSIONS_PER_CALLER_MAX,
    grantTtlSeconds: e.PII_GRANT_TTL_SECONDS,
    grantMaxTtlSeconds: e.PII_GRANT_MAX_TTL_SECONDS,
    rateLimitWindowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
    shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    rateLimitSensitiveMax: e.RATE_LIMIT_SENSITIVE_MAX,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxDepth: e.MAX_QUERY_DEPTH,
    maxAliases: e.MAX_ALIASES,
    maxTokens: e.MAX_TOKENS,
    maxCost: e.MAX_QUERY_COST,
    introspection: e.INTROSPECTION ?? e.NODE_ENV !== 'production',
    policyRouterDirectives: e.POLICY_ROUTER_DIRECTIVES ?? true,
    policyDisabled: e.VEIL_BENCH_DISABLE_POLICY ?? false,
  };
}

/** A config whose every connection and secret is known: production as given, development after the dev launcher. */
export interface ResolvedConfig extends AppConfig {
  mongodbUrl: string;
  redisUrl: string;
  authIssuer: string;
  authAudience: string;
  identityHmacKeys: string;
  piiMasterKey: string;
}

/** The one place that touches process.env. */
export function loadConfigFromProcess(): AppConfig {
  return loadConfig(process.env);
}
