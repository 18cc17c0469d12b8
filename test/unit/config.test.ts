import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message.split('\n');
  }
}

describe('numbers in the environment', () => {
  it('takes decimal digits, and the default when empty or unset', () => {
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080);
    expect(loadConfig({ PORT: ' 8080 ' }).port).toBe(8080);
    expect(loadConfig({ PORT: '' }).port).toBe(4001);
    expect(loadConfig({}).port).toBe(4001);
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
  });

  it.each(['0x10', '1e3', '1.5', '-1', '70000', 'abc', '+80', '８０'])('refuses PORT=%s, naming the variable', (value) => {
    expect(problemsOf({ PORT: value })).toEqual(['PORT: must be a whole number from 0 to 65535']);
  });
});

describe('several problems at once', () => {
  it('reports each, one line per variable, a bad value of one kind not hiding one of another', () => {
    const problems = problemsOf({
      NODE_ENV: 'production',
      PORT: 'abc',
      MONGODB_URL: 'postgres://db',
      REDIS_URL: 'redis://127.0.0.1:6379',
      AUTH_JWKS_FILE: '/etc/veil/jwks.json',
      AUTH_ISSUER: 'https://issuer.example/',
      AUTH_AUDIENCE: 'veil',
      IDENTITY_HMAC_KEYS: 'v1:xx',
      PII_MASTER_KEY: 'abc',
    });
    expect(problems.map((line) => line.split(/[: ]/)[0]).sort()).toEqual(['IDENTITY_HMAC_KEYS', 'MONGODB_URL', 'PII_MASTER_KEY', 'PORT']);
    // The invalid MONGODB_URL is reported as invalid, not once more as missing.
    expect(problems.filter((line) => line.startsWith('MONGODB_URL'))).toEqual(['MONGODB_URL: must be a URL starting with mongodb:// or mongodb+srv://']);
  });
});

describe('SHUTDOWN_GRACE_SECONDS', () => {
  it('waits 25 s for requests in flight unless told otherwise, from 1 s to an hour', () => {
    expect(loadConfig({}).shutdownGraceSeconds).toBe(25);
    expect(loadConfig({ SHUTDOWN_GRACE_SECONDS: '120' }).shutdownGraceSeconds).toBe(120);
    expect(problemsOf({ SHUTDOWN_GRACE_SECONDS: '0' })).toEqual(['SHUTDOWN_GRACE_SECONDS: must be a whole number from 1 to 3600']);
  });
});

describe('REDIS_URL', () => {
  it.each(['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://:pw@127.0.0.1:6379/2', 'rediss://cache.internal:6380/15', 'redis://127.0.0.1:6379/?db=3', 'redis://127.0.0.1:6379/3?db=3'])('accepts %s', (url) => {
    expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
  });

  // `?db=` reached SELECT unchecked: a ReplyError and a stack trace, or "no database NaN" (a probe). `garbage` got two lines.
  it.each(['redis://127.0.0.1:6379/notadb', 'redis://:pw@127.0.0.1:6379/0/x', 'redis://[::1', 'redis://:pw@127.0.0.1:6379/?db=', 'redis://:pw@127.0.0.1:6379/?db=abc', 'redis://:pw@127.0.0.1:6379?db=-1', 'redis://:pw@h:1/?db=1&db=2', 'redis://:pw@127.0.0.1:6379/0?db=2', 'redis://:pw@127.0.0.1:6379?DB=3', 'garbage'])('refuses %s in one line without repeating it', (url) => {
    const problems = problemsOf({ REDIS_URL: url });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^REDIS_URL: /);
    expect(problems[0]).not.toContain('pw');
  });
});

describe('one line per variable', () => {
  it('gives the first problem of a variable only (AUTH_JWKS_URL=garbage printed two, one offering http:// to production)', () => {
    expect(problemsOf({ AUTH_JWKS_URL: 'garbage' })).toEqual(['AUTH_JWKS_URL: must be a URL starting with https:// (http:// outside production)']);
    expect(problemsOf({ REDIS_URL: 'garbage' })).toEqual(['REDIS_URL: must be a URL starting with redis:// or rediss://']);
  });
});

describe('MONGODB_DB and AUDIT_MONGODB_DB', () => {
  // Each was taken and served (a probe); `local` is not replicated.
  it.each(['admin', 'local', 'config', 'Admin', 'LOCAL'])('refuses %s, reserved by MongoDB', (name) => {
    expect(problemsOf({ MONGODB_DB: name })).toEqual(['MONGODB_DB: must be 1-63 letters, digits, _ or -, and not admin, local or config (reserved by MongoDB)']);
    expect(problemsOf({ AUDIT_MONGODB_DB: name })[0]).toMatch(/^AUDIT_MONGODB_DB: .*reserved by MongoDB/);
  });

  it('takes names that merely start with one', () => {
    expect(loadConfig({ MONGODB_DB: 'admin_veil' }).mongodbDb).toBe('admin_veil');
  });

  // Empty means the default, as for the numbers (`value: ""` in a manifest was refused, HOST in zod's own words; a probe).
  it('takes an empty MONGODB_DB or HOST for its default', () => {
    expect(problemsOf({ MONGODB_DB: '', HOST: ' ' })).toEqual([]);
    expect(loadConfig({ MONGODB_DB: '', HOST: '' })).toMatchObject({ mongodbDb: 'veil', host: '0.0.0.0' });
  });

  // An empty flag read as false: POLICY_ROUTER_DIRECTIVES="" served the SDL without @requiresScopes (a probe).
  it('takes every other empty variable for its default too, flags included', () => {
    const empty = { REDIS_KEY_PREFIX: '', VEIL_DATA_DIR: '', LOG_LEVEL: '', POLICY_ROUTER_DIRECTIVES: '', INTROSPECTION: '', MONGODB_COMMAND_MONITORING: '' };
    expect(problemsOf(empty)).toEqual([]);
    expect(loadConfig(empty)).toMatchObject({ redisKeyPrefix: 'veil:', dataDir: '.data', logLevel: 'info', policyRouterDirectives: true, introspection: true, mongodbCommandMonitoring: false });
    expect(loadConfig({ POLICY_ROUTER_DIRECTIVES: '0', INTROSPECTION: 'false' })).toMatchObject({ policyRouterDirectives: false, introspection: false });
    // Flags are read trimmed, as every other variable is: `"   "` and `" true "` were refused in zod's words (a probe).
    expect(loadConfig({ INTROSPECTION: '   ', POLICY_ROUTER_DIRECTIVES: ' false ' })).toMatchObject({ introspection: true, policyRouterDirectives: false });
    expect(problemsOf({ INTROSPECTION: 'yes' })).toEqual(['INTROSPECTION: must be true, false, 1 or 0 (empty means the default)']);
    // NODE_ENV alone is refused empty: its default starts development services and trusts a dev key.
    expect(problemsOf({ NODE_ENV: '' })[0]).toMatch(/^NODE_ENV: must be production, development or test/);
    // What is refused is said in the project's words.
    expect(problemsOf({ REDIS_KEY_PREFIX: 'a b', LOG_LEVEL: 'loud' })).toEqual(['REDIS_KEY_PREFIX: must be 1-32 letters, digits, :, _ or -', 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent']);
  });
});

describe('PII_MASTER_KEY_PREVIOUS', () => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
  it('is read beside PII_MASTER_KEY only, as base64 of 32 bytes, and never the same key', () => {
    expect(problemsOf({ PII_MASTER_KEY_PREVIOUS: key })).toEqual(['PII_MASTER_KEY_PREVIOUS: is given without PII_MASTER_KEY']);
    expect(problemsOf({ PII_MASTER_KEY: key, PII_MASTER_KEY_PREVIOUS: 'a-b' })).toEqual(['PII_MASTER_KEY_PREVIOUS is not valid base64']);
    expect(problemsOf({ PII_MASTER_KEY: key, PII_MASTER_KEY_PREVIOUS: 'abcd' })).toEqual(['PII_MASTER_KEY_PREVIOUS decodes to 3 bytes; exactly 32 are required']);
    expect(problemsOf({ PII_MASTER_KEY: key, PII_MASTER_KEY_PREVIOUS: key })).toEqual(['PII_MASTER_KEY_PREVIOUS: is the same key as PII_MASTER_KEY']);
  });

  // Each was named on its own run, the next only once the first was fixed (regression probes).
  it('is named with every problem it has, the other key missing or malformed too', () => {
    expect(problemsOf({ PII_MASTER_KEY_PREVIOUS: 'a-b' })).toEqual(['PII_MASTER_KEY_PREVIOUS: is given without PII_MASTER_KEY', 'PII_MASTER_KEY_PREVIOUS is not valid base64']);
    expect(problemsOf({ PII_MASTER_KEY: 'abcd', PII_MASTER_KEY_PREVIOUS: 'a-b' })).toEqual([
      'PII_MASTER_KEY decodes to 3 bytes; exactly 32 are required',
      'PII_MASTER_KEY_PREVIOUS is not valid base64',
    ]);
  });
});

describe('MONGODB_URL hosts', () => {
  it.each(['mongodb://127.0.0.1:27017,', 'mongodb://u:p@a:1,,b:2/db', 'mongodb://,a:1/?x=1'])('refuses %s, which lists an empty host', (url) => {
    expect(problemsOf({ MONGODB_URL: url })).toEqual(['MONGODB_URL: must list its hosts without an empty one (a trailing or doubled comma)']);
  });
  it('takes several hosts and credentials with commas in the query', () => {
    expect(loadConfig({ MONGODB_URL: 'mongodb://u:p,q@a:1,b:2/db?readPreference=primary&x=1,2' }).mongodbUrl).toMatch(/^mongodb:/);
  });
});

describe('MONGODB_COMMAND_MONITORING', () => {
  it('is off unless asked for (the driver would build an event for every command), and takes only a boolean', () => {
    expect(loadConfig({}).mongodbCommandMonitoring).toBe(false);
    expect(loadConfig({ MONGODB_COMMAND_MONITORING: 'true' }).mongodbCommandMonitoring).toBe(true);
    expect(problemsOf({ MONGODB_COMMAND_MONITORING: 'yes' })[0]).toMatch(/^MONGODB_COMMAND_MONITORING: /);
  });
});
