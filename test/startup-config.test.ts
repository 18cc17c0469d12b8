/**
 * `NODE_ENV=production npm start` with a bad setting: start-up stops with one
 * line naming the variable, quoting nothing secret (not a password, not a
 * file's content), exit 78 for configuration and 1 for a store it cannot
 * reach. Real processes (`node --import tsx src/main.ts`, what `npm start`
 * runs) against the test stores and a redis-server of the test's own.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { runScript } from './testkit/run-script.js';
import { repoRoot } from '../scripts/production-runtime.js';
import { DEV_AUDIENCE, DEV_ISSUER, devJwks, generateDevKeys, type DevKeys } from '../src/dev/dev-keys.js';
import { PiiEnvelope } from '../src/identity/pii-envelope.js';
import { HmacKeyring } from '../src/identity/hmac-keyring.js';
import { verifyKeysAgainstStore } from '../src/identity/key-checks.js';
import { ensureRedisServer, findFreePort } from '../src/dev/services.js';

const SECRET = 'SEKRIT-do-not-print';
let dir: string;
let keys: DevKeys;
let goodJwks: string;
let guardedRedis: { url: string; port: number; stop: () => void } | null = null;
let replicaRedis: { url: string; stop: () => void } | null = null;


function baseEnv(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    NODE_ENV: 'production',
    PORT: '0',
    HOST: '127.0.0.1',
    MONGODB_URL: inject('mongoUrl'),
    MONGODB_DB: `veil_startup_${randomBytes(4).toString('hex')}`,
    REDIS_URL: inject('redisUrl'),
    AUTH_JWKS_FILE: goodJwks,
    AUTH_ISSUER: DEV_ISSUER,
    AUTH_AUDIENCE: DEV_AUDIENCE,
    IDENTITY_HMAC_KEYS: keys.identityHmacKeys,
    PII_MASTER_KEY: keys.piiMasterKey,
  };
}

/** Starts the server; resolves with its exit code and output, or 'serving' (and stops it) once it serves. */
function start(env: Record<string, string>, as: { uid: number; gid: number } | null = null): Promise<{ code: number | 'serving'; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], ...(as ?? {}) });
    let output = '';
    let served = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`neither served nor exited in 60 s:\n${output}`));
    }, 60_000);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (!served && output.includes('veil subgraph serving')) {
        served = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    // A node that cannot be run (as another user, say) fails at once rather than after the 60 s timer.
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: served ? 'serving' : (code ?? -1), output });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'veil-startup-'));
  keys = await generateDevKeys();
  goodJwks = path.join(dir, 'jwks.json');
  await writeFile(goodJwks, JSON.stringify(devJwks(keys)));
  // A Redis that wants a password, for the refused-credentials case.
  const port = await findFreePort();
  const server = spawn(await ensureRedisServer(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 'right-password'], { stdio: 'ignore' });
  let spawnError: Error | null = null;
  server.on('error', (error) => {
    spawnError = error;
  });
  guardedRedis = { url: `redis://:${SECRET}@127.0.0.1:${port}`, port, stop: () => server.kill('SIGTERM') };
  await untilListening(port);
  if (spawnError) throw spawnError;
  // Users whose ACL leaves out the default prefix's keys, or scripting (a probe's replica started and failed every write).
  const admin = new Redis({ port, host: '127.0.0.1', password: 'right-password', lazyConnect: true });
  await admin.connect();
  await admin.call('ACL', 'SETUSER', 'narrow', 'on', `>${SECRET}`, '~other:*', '+@all');
  await admin.call('ACL', 'SETUSER', 'noscript', 'on', `>${SECRET}`, '~*', '+@all', '-@scripting');
  await admin.call('ACL', 'SETUSER', 'noset', 'on', `>${SECRET}`, '~*', '+@all', '-set');
  admin.disconnect();
  // A read-only replica (of a primary that is not there: it serves reads, and refuses writes).
  const replicaPort = await findFreePort();
  const replica = spawn(await ensureRedisServer(), ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', '1'], { stdio: 'ignore' });
  replicaRedis = { url: `redis://127.0.0.1:${replicaPort}`, stop: () => replica.kill('SIGTERM') };
  await untilListening(replicaPort);
}, 60_000);

async function untilListening(port: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A port something else listens on (opened on first use). */
let busyServer: net.Server | null = null;
async function busyPort(): Promise<number> {
  busyServer ??= await new Promise<net.Server>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => resolve(server));
  });
  return (busyServer.address() as net.AddressInfo).port;
}

/** The live test server's URL with a user, SECRET as the password, and these options (the failure comes with the connection). */
function withCredentials(url: string, options: string): string {
  const u = new URL(url);
  u.username = 'user';
  u.password = SECRET;
  return `${u.toString().replace(/\?.*$/, '')}?${options}`;
}

function withPath(url: string, pathname: string): string {
  const parsed = new URL(url);
  parsed.pathname = pathname;
  return parsed.toString();
}

afterAll(async () => {
  busyServer?.close();
  guardedRedis?.stop();
  replicaRedis?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function jwksFile(name: string, content: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

describe('npm start and signals', () => {
  it('stops the server when npm itself gets SIGTERM (the shell running the script hands it on by exec)', async () => {
    const child = spawn('npm', ['start', '--silent'], { cwd: repoRoot, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const seen = (text: string, ms: number) =>
      new Promise<boolean>((resolve) => {
        const started = Date.now();
        const poll = setInterval(() => {
          if (output.includes(text) || Date.now() - started > ms) {
            clearInterval(poll);
            resolve(output.includes(text));
          }
        }, 50);
      });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      expect(await seen('veil subgraph serving', 60_000), output).toBe(true);
      // What `kill <pid of npm start>` does: the signal goes to npm alone, not to its process group.
      child.kill('SIGTERM');
      expect(await seen('subgraph stopped', 15_000), output).toBe(true);
    } finally {
      // Whatever happened, leave nothing running.
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }, 90_000);
});

describe('production start-up with a bad setting', () => {
  const publicKey = () => devJwks(keys).keys[0] as Record<string, unknown>;
  const cases: Array<[string, () => Promise<Record<string, string>>, number, RegExp]> = [
    ['a PORT in hexadecimal', async () => ({ PORT: '0x10' }), 78, /^veil: configuration error: PORT: must be a whole number from 0 to 65535$/m],
    ['a PORT in exponent notation', async () => ({ PORT: '1e3' }), 78, /^veil: configuration error: PORT: /m],
    ['a REDIS_URL whose path is not a database number', async () => ({ REDIS_URL: `redis://:${SECRET}@127.0.0.1:6379/notadb` }), 78, /^veil: configuration error: REDIS_URL: /m],
    ['a JWKS file that does not exist', async () => ({ AUTH_JWKS_FILE: path.join(dir, `${SECRET}.json`) }), 78, /^veil: configuration error: AUTH_JWKS_FILE: cannot read the file \(Error: ENOENT\)$/m],
    ['a JWKS file that is not JSON', async () => ({ AUTH_JWKS_FILE: await jwksFile('bad.json', `not json ${SECRET}`) }), 78, /^veil: configuration error: AUTH_JWKS_FILE: the file is not valid JSON$/m],
    // A FIFO held the start, and its stop, until something wrote to it; /dev/zero grew to 700 MB (a probe).
    ['a JWKS "file" that is a FIFO', async () => {
      const fifo = path.join(dir, `jwks-${randomBytes(3).toString('hex')}.fifo`);
      execFileSync('mkfifo', [fifo]);
      return { AUTH_JWKS_FILE: fifo };
    }, 78, /^veil: configuration error: AUTH_JWKS_FILE: is not a regular file$/m],
    ['a JWKS "file" that is a device', async () => ({ AUTH_JWKS_FILE: '/dev/zero' }), 78, /^veil: configuration error: AUTH_JWKS_FILE: is not a regular file$/m],
    ['a JWKS file of several megabytes', async () => ({ AUTH_JWKS_FILE: await jwksFile('huge.json', `{"keys":[],"pad":"${'x'.repeat(2_000_000)}"}`) }), 78, /^veil: configuration error: AUTH_JWKS_FILE: the file is larger than 1048576 bytes, which no key set needs$/m],
    ['a JWKS with no keys', async () => ({ AUTH_JWKS_FILE: await jwksFile('empty.json', '{"keys":[]}') }), 78, /AUTH_JWKS_FILE: the key set has no keys$/m],
    ['a JWKS holding a private key', async () => ({ AUTH_JWKS_FILE: await jwksFile('private.json', JSON.stringify({ keys: [{ ...publicKey(), d: SECRET }] })) }), 78, /AUTH_JWKS_FILE: key 0 holds private or secret key material/m],
    ['a JWKS holding a symmetric key', async () => ({ AUTH_JWKS_FILE: await jwksFile('oct.json', JSON.stringify({ keys: [publicKey(), { kty: 'oct', alg: 'HS256' }] })) }), 78, /AUTH_JWKS_FILE: key 1 is not an asymmetric key/m],
    ['a MONGODB_URL with an option the driver refuses', async () => ({ MONGODB_URL: `mongodb://user:${SECRET}@127.0.0.1:27017/?tls=maybe` }), 78, /^veil: configuration error: MONGODB_URL: is not a MongoDB connection string the driver accepts \(Mongo\w+Error\)$/m],
    ['a MONGODB_URL nothing listens on', async () => ({ MONGODB_URL: `mongodb://user:${SECRET}@127.0.0.1:${await findFreePort()}/` }), 1, /^veil: cannot start: MONGODB_URL: cannot connect to MongoDB \(MongoServerSelectionError: ECONNREFUSED\)$/m],
    // Found by a probe: a database the server lacks went on in database 0; the others named no variable, or exited 1.
    ['a REDIS_URL database the server does not have', async () => ({ REDIS_URL: withPath(inject('redisUrl'), '/99999') }), 78, /^veil: configuration error: REDIS_URL: Redis has no database 99999 /m],
    ['a REDIS_URL database given as ?db=', async () => ({ REDIS_URL: `${withPath(inject('redisUrl'), '/')}?db=99` }), 78, /^veil: configuration error: REDIS_URL: Redis has no database 99 /m],
    ['an AUTH_JWKS_URL that is no URL', async () => ({ AUTH_JWKS_URL: 'https://', AUTH_JWKS_FILE: '' }), 78, /^veil: configuration error: AUTH_JWKS_URL: is not a URL/m],
    ['an AUTH_JWKS_URL with a password in it', async () => ({ AUTH_JWKS_URL: `https://user:${SECRET}@127.0.0.1:9/jwks`, AUTH_JWKS_FILE: '' }), 78, /^veil: configuration error: AUTH_JWKS_URL: must not hold a user name or password \(fetch refuses such URLs\)$/m],
    // No retry mends these: reported as outages (exit 1) until a probe.
    ['a MONGODB_URL whose authMechanism needs a package not installed', async () => ({ MONGODB_URL: withCredentials(inject('mongoUrl'), 'authMechanism=MONGODB-AWS') }), 78, /^veil: configuration error: MONGODB_URL: needs a package this build does not install \(MongoMissingDependencyError\); use another authMechanism$/m],
    ['a MONGODB_URL naming a TLS file that does not exist', async () => ({ MONGODB_URL: withCredentials(inject('mongoUrl'), 'tls=true&tlsCertificateKeyFile=/nonexistent-veil.pem') }), 78, /^veil: configuration error: MONGODB_URL: a file it names \(tlsCAFile, tlsCertificateKeyFile\) cannot be read or used \(.*ENOENT.*\)$/m],
    ['a MONGODB_URL naming a TLS key file that holds no key', async () => {
      const file = path.join(dir, 'not-a-key.pem');
      await writeFile(file, 'this is not a certificate\n');
      return { MONGODB_URL: withCredentials(inject('mongoUrl'), `tls=true&tlsCertificateKeyFile=${encodeURIComponent(file)}`) };
    }, 78, /^veil: configuration error: MONGODB_URL: a file it names \(tlsCAFile, tlsCertificateKeyFile\) cannot be read or used \(.*ERR_OSSL_.*\)$/m],
    ['a MONGODB_URL whose port is not a number', async () => ({ MONGODB_URL: `mongodb://user:${SECRET}@127.0.0.1:zz/` }), 78, /^veil: configuration error: MONGODB_URL: is not a MongoDB connection string/m],
    ['a PORT another process listens on', async () => ({ PORT: String(await busyPort()) }), 1, /^veil: cannot start: PORT: \d+ is in use on 127\.0\.0\.1 \(EADDRINUSE\)$/m],
    ['a HOST that does not resolve', async () => ({ HOST: 'not-a-host.invalid' }), 1, /^veil: cannot start: HOST: cannot listen on not-a-host\.invalid:0 \((ENOTFOUND|EAI_AGAIN)\)$/m],
    ['a REDIS_URL whose password Redis refuses', async () => ({ REDIS_URL: guardedRedis!.url }), 78, /^veil: configuration error: REDIS_URL: Redis refused the credentials/m],
    ["a REDIS_URL user whose ACL leaves out the prefix's keys", async () => ({ REDIS_URL: `redis://narrow:${SECRET}@127.0.0.1:${guardedRedis!.port}` }), 78, /^veil: configuration error: REDIS_URL: the Redis user may not write keys under REDIS_KEY_PREFIX or run scripts \(NOPERM\)/m],
    ['a REDIS_URL user without scripting', async () => ({ REDIS_URL: `redis://noscript:${SECRET}@127.0.0.1:${guardedRedis!.port}` }), 78, /^veil: configuration error: REDIS_URL: the Redis user may not write keys under REDIS_KEY_PREFIX or run scripts \(NOPERM\)/m],
    ['a REDIS_URL user who may not SET (refused inside a script as a plain ERR)', async () => ({ REDIS_URL: `redis://noset:${SECRET}@127.0.0.1:${guardedRedis!.port}` }), 78, /^veil: configuration error: REDIS_URL: the Redis user may not write keys under REDIS_KEY_PREFIX or run scripts \(NOPERM\)/m],
    ['a REDIS_URL of a read-only replica', async () => ({ REDIS_URL: replicaRedis!.url }), 78, /^veil: configuration error: REDIS_URL: is a read-only replica \(READONLY\): give the primary$/m],
  ];

  // A port below 1024 without the privilege (the image runs as `node`) was blamed on HOST (a probe). As root, the start
  // runs as nobody (uid 65534), with a key set it can read; skipped where unprivileged processes may take port 80.
  const unprivilegedFrom = Number(execFileSync('cat', ['/proc/sys/net/ipv4/ip_unprivileged_port_start']).toString().trim());
  // Only where nobody can run this node on this checkout: .ci/run's Node 24 sits in a temp dir of root's own (mode 0700).
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null;
  const nobodyCanRun = asNobody === null || spawnSync(process.execPath, ['-e', '0'], { cwd: repoRoot, ...asNobody, stdio: 'ignore' }).status === 0;
  it.skipIf(!(unprivilegedFrom > 80) || !nobodyCanRun)('a PORT below 1024 without the privilege: one line naming PORT, exit 1', async () => {
    const readable = await mkdtemp(path.join(os.tmpdir(), 'veil-port-'));
    try {
      const jwks = path.join(readable, 'jwks.json');
      await writeFile(jwks, JSON.stringify(devJwks(keys)), { mode: 0o644 });
      await chmod(readable, 0o755);
      const { code: exit, output } = await start({ ...baseEnv(), PORT: '80', AUTH_JWKS_FILE: jwks }, asNobody);
      expect(exit, output).toBe(1);
      expect(output.trim()).toBe('veil: cannot start: PORT: 80 needs privileges this process does not have (use a port of 1024 or more) (EACCES)');
    } finally {
      await rm(readable, { recursive: true, force: true });
    }
  });

  it.each(cases)('%s: one line naming the variable, nothing secret, and the right exit code', async (_name, override, code, line) => {
    const { code: exit, output } = await start({ ...baseEnv(), ...(await override()) });
    expect(exit, output).toBe(code);
    expect(output).toMatch(line);
    expect(output).not.toContain(SECRET);
    expect(output).not.toMatch(/\n\s+at /);
  });

  // The keys' check records the key versions of a database that has none, for good: a start refused for its JWKS
  // after that check had bound an empty database to keys it could then not correct (a probe).
  it('records no key versions when it stops on another setting, so a corrected key is still taken', async () => {
    const env = baseEnv();
    const refused = await start({ ...env, AUTH_JWKS_FILE: await jwksFile('empty-first.json', '{"keys":[]}') });
    expect(refused.code, refused.output).toBe(78);
    const other = await generateDevKeys();
    const { code, output } = await start({ ...env, IDENTITY_HMAC_KEYS: other.identityHmacKeys, PII_MASTER_KEY: other.piiMasterKey });
    expect(code, output).toBe('serving');
  });

  // A key no random source made (`AAAA…A=`) was taken (a probe). Refused where it would be put to use anew; kept, with a
  // warning, where the database already holds data under it (refusing would lock that data away).
  it('refuses a key of one repeated byte for a new database, and serves one the database already holds data under', async () => {
    const zeros = Buffer.alloc(32).toString('base64');
    const env = baseEnv();
    const hmac = await start({ ...env, IDENTITY_HMAC_KEYS: `v1:${zeros}` });
    expect(hmac.code, hmac.output).toBe(78);
    expect(hmac.output).toMatch(/^veil: configuration error: IDENTITY_HMAC_KEYS: the key of version "v1" is not random bytes/m);
    const master = await start({ ...env, PII_MASTER_KEY: zeros });
    expect(master.code, master.output).toBe(78);
    expect(master.output).toMatch(/^veil: configuration error: PII_MASTER_KEY: the key is not random bytes/m);
    // As an older release recorded them: the database holds data under the weak keys, which stay usable.
    const db = `veil_weak_${randomBytes(4).toString('hex')}`;
    const { MongoClient } = await import('mongodb');
    const { HmacKeyring } = await import('../src/identity/hmac-keyring.js');
    const { PiiEnvelope } = await import('../src/identity/pii-envelope.js');
    const client = await MongoClient.connect(inject('mongoUrl'));
    try {
      await client.db(db).collection('key_checks').insertMany([
        { _id: 'hmac:v1' as never, value: HmacKeyring.parse(`v1:${zeros}`).checkValue('v1'), recordedAt: new Date() },
        { _id: 'pii-master-key' as never, value: PiiEnvelope.fromBase64(zeros).masterKeyId, recordedAt: new Date() },
      ]);
    } finally {
      await client.close();
    }
    const held = await start({ ...env, MONGODB_DB: db, IDENTITY_HMAC_KEYS: `v1:${zeros}`, PII_MASTER_KEY: zeros });
    expect(held.code, held.output).toBe('serving');
    expect(held.output).toMatch(/IDENTITY_HMAC_KEYS: the key of version .{1,2}v1.{1,2} is not random bytes; this database already holds data under it/);
    expect(held.output).toMatch(/PII_MASTER_KEY: the key is not random bytes; this database already holds data under it/);
    // Written before key checks existed: identifiers under the weak version, nothing in key_checks (a regression probe).
    const older = `veil_weak_${randomBytes(4).toString('hex')}`;
    const olderClient = await MongoClient.connect(inject('mongoUrl'));
    try {
      await olderClient.db(older).collection('identifiers').insertOne({ _id: `w1:${'a'.repeat(43)}` as never, keyVersion: 'w1', kind: 'EMAIL', customerId: 'cus_00000000000000000000000001' });
    } finally {
      await olderClient.close();
    }
    const legacy = await start({ ...env, MONGODB_DB: older, IDENTITY_HMAC_KEYS: `w1:${zeros}` });
    expect(legacy.code, legacy.output).toBe('serving');
    expect(legacy.output).toMatch(/IDENTITY_HMAC_KEYS: the key of version .{1,2}w1.{1,2} is not random bytes; this database already holds data under it/);
  });

  it('serves with the good settings: the baseline of the cases above', async () => {
    const { code, output } = await start(baseEnv());
    expect(code, output).toBe('serving');
  });
});

describe('development start-up with a bad setting', () => {
  // Development mode with store URLs given: no dev services are started, so each case ends in seconds.
  const devEnv = (): Record<string, string> => ({
    PATH: process.env['PATH'] ?? '',
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    MONGODB_URL: inject('mongoUrl'),
    MONGODB_DB: `veil_devstart_${randomBytes(4).toString('hex')}`,
    REDIS_URL: inject('redisUrl'),
    VEIL_DATA_DIR: path.join(dir, `dev-${randomBytes(4).toString('hex')}`),
  });

  it('names VEIL_DATA_DIR when it cannot be used (a file), with exit code 78', async () => {
    const file = await jwksFile(`not-a-dir-${randomBytes(3).toString('hex')}`, 'x');
    const { code, output } = await start({ ...devEnv(), PORT: '0', VEIL_DATA_DIR: file });
    expect(code, output).toBe(78);
    expect(output).toMatch(/^veil: configuration error: VEIL_DATA_DIR: cannot keep development data in .+ \(EEXIST\)$/m);
  });

  // `.data/redis` a file: `veil: fatal: EEXIST: file already exists, mkdir …`, exit 1, named nothing (a probe).
  it('names VEIL_DATA_DIR when a dev server cannot keep its data in it, with exit code 78', async () => {
    const env = devEnv();
    delete env['REDIS_URL'];
    await mkdir(env['VEIL_DATA_DIR'] as string, { recursive: true });
    await writeFile(path.join(env['VEIL_DATA_DIR'] as string, 'redis'), 'not a directory');
    const { code, output } = await start({ ...env, PORT: '0' });
    expect(code, output).toBe(78);
    expect(output).toMatch(/^veil: configuration error: VEIL_DATA_DIR: cannot keep development data in .+ \((EEXIST|ENOTDIR)\)$/m);
  });

  it('says that dev-keys.json was made anew when the database holds data written under the keys it replaced', async () => {
    // A production start records its keys' check values in this database; a development start with a fresh data
    // directory generates other keys, and was refused naming IDENTITY_HMAC_KEYS, which the developer never set.
    const env = devEnv();
    expect((await start({ ...baseEnv(), MONGODB_DB: env['MONGODB_DB'] as string })).code).toBe('serving');
    const { code, output } = await start({ ...env, PORT: '0' });
    expect(code, output).toBe(78);
    expect(output).toMatch(/^veil: configuration error: IDENTITY_HMAC_KEYS: the key of version "v1" is not the one/m);
    expect(output).toMatch(/^veil: configuration error: .+dev-keys\.json was created anew, but the database holds data written under the keys it replaced/m);
  });

  it('names VEIL_DATA_DIR when its dev-keys.json is JSON but no key file, before any service starts', async () => {
    const env = devEnv();
    await mkdir(env['VEIL_DATA_DIR'] as string, { recursive: true });
    await writeFile(path.join(env['VEIL_DATA_DIR'] as string, 'dev-keys.json'), '{}');
    const { code, output } = await start({ ...env, PORT: '0' });
    expect(code, output).toBe(78);
    expect(output).toMatch(/^veil: configuration error: VEIL_DATA_DIR: cannot keep development data in .+ \(dev-keys\.json is not a development key file\)$/m);
  });

  it('names a HOST it cannot listen on before anything starts, with PORT 0 too', async () => {
    const { code, output } = await start({ ...devEnv(), PORT: '0', HOST: 'not-a-host.invalid' });
    expect(code, output).toBe(1);
    expect(output).toMatch(/^veil: cannot start: HOST: cannot listen on not-a-host\.invalid:0 \((ENOTFOUND|EAI_AGAIN)\)$/m);
    expect(output).not.toMatch(/seed|generated development keys/i);
  });

  it('names a PORT in use before it seeds anything', async () => {
    const { code, output } = await start({ ...devEnv(), PORT: String(await busyPort()) });
    expect(code, output).toBe(1);
    expect(output).toMatch(/^veil: cannot start: PORT: \d+ is in use on 127\.0\.0\.1 \(EADDRINUSE\)$/m);
    // It was reported after 300 demo customers had been seeded (a probe).
    expect(output).not.toMatch(/seed/i);
  });
});

// Moving AUDIT_MONGODB_DB hid every trail: verifyAuditTrail answered valid with 0 events, and new events started chains
// of their own at sequence 1 (a probe).
describe('production start-up with an audit store that holds none of the trails', () => {
  it('stops with one line naming AUDIT_MONGODB_DB when the database holds customers and the store no event', async () => {
    const env = baseEnv();
    // A database with a customer, as every registration leaves one, and its event where the trail lives now.
    const client = await MongoClient.connect(env['MONGODB_URL'] as string);
    try {
      await client.db(env['MONGODB_DB']).collection<{ _id: string }>('customers').insertOne({ _id: 'cus_x' } as { _id: string });
      await client.db(env['MONGODB_DB']).collection<{ _id: string }>('audit_events').insertOne({ _id: 'aud_x' } as { _id: string });
    } finally {
      await client.close();
    }
    expect((await start(env)).code).toBe('serving');
    const moved = await start({ ...env, AUDIT_MONGODB_DB: `${env['MONGODB_DB']}_audit` });
    expect(moved.code, moved.output).toBe(78);
    expect(moved.output.trim()).toBe(
      'veil: configuration error: AUDIT_MONGODB_DB: the audit store holds no events while the database holds customers, whose trails would start afresh there; copy audit_events into it first, or point it at the store that holds them',
    );
  }, 120_000);
});

describe('production start-up with a well-formed key that is not the data\'s own', () => {
  it('stops with one line naming IDENTITY_HMAC_KEYS or PII_MASTER_KEY, and serves again with the right keys', async () => {
    const env = baseEnv();
    expect((await start(env)).code).toBe('serving');
    const other = await generateDevKeys();
    // The same version label with another key: every known person would be unknown, and registered twice.
    const hmac = await start({ ...env, IDENTITY_HMAC_KEYS: other.identityHmacKeys });
    expect(hmac.code, hmac.output).toBe(78);
    expect(hmac.output).toMatch(/^veil: configuration error: IDENTITY_HMAC_KEYS: the key of version "v1" is not the one this database's identifiers were hashed with/m);
    // Every clear read and export would fail.
    const master = await start({ ...env, PII_MASTER_KEY: other.piiMasterKey });
    expect(master.code, master.output).toBe(78);
    expect(master.output).toMatch(/^veil: configuration error: PII_MASTER_KEY: is not the key this database's customer data keys were wrapped with$/m);
    // A PORT in use in production is named before the stores are connected, so no warning comes before it either.
    const port = await busyPort();
    const inUse = await start({ ...env, PORT: String(port), REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(inUse.code, inUse.output).toBe(1);
    expect(inUse.output.trim()).toBe(`veil: cannot start: PORT: ${port} is in use on 127.0.0.1 (EADDRINUSE)`);
    // With Redis unreachable too: the start is refused in that one line, with no warning before it that it is
    // serving (a probe saw `Redis is not reachable yet: serving...` first).
    const unreachable = await start({ ...env, PII_MASTER_KEY: other.piiMasterKey, REDIS_URL: `redis://127.0.0.1:${await busyPort()}` });
    expect(unreachable.code, unreachable.output).toBe(78);
    expect(unreachable.output.trim()).toBe("veil: configuration error: PII_MASTER_KEY: is not the key this database's customer data keys were wrapped with");
    for (const output of [hmac.output, master.output]) {
      expect(output).not.toContain(other.piiMasterKey);
      expect(output).not.toContain(other.identityHmacKeys.slice(3));
      expect(output).not.toMatch(/\n\s+at /);
    }
    // A refused start records nothing: v7 is not bound to the key it brought.
    const third = await generateDevKeys();
    expect((await start({ ...env, IDENTITY_HMAC_KEYS: `${third.identityHmacKeys.replace(/^v1:/, 'v7:')},${other.identityHmacKeys}` })).code).toBe(78);
    // A new version added in front (a rotation) is recorded, and the right keys still serve.
    const rotated = `${other.identityHmacKeys.replace(/^v1:/, 'v7:')},${keys.identityHmacKeys}`;
    expect((await start({ ...env, IDENTITY_HMAC_KEYS: rotated })).code).toBe('serving');
    expect((await start(env)).code).toBe('serving');
    // With identifiers on record, a key set sharing no version with them (another key under a new label) is refused.
    const client = await MongoClient.connect(env['MONGODB_URL'] as string);
    try {
      await client.db(env['MONGODB_DB']).collection<{ _id: string }>('identifiers').insertOne({ _id: 'v1:x', keyVersion: 'v1', kind: 'EMAIL', customerId: 'cus_x', linkedAt: new Date() } as { _id: string });
    } finally {
      await client.close();
    }
    const unrelated = await start({ ...env, IDENTITY_HMAC_KEYS: third.identityHmacKeys.replace(/^v1:/, 'v9:') });
    expect(unrelated.code, unrelated.output).toBe(78);
    expect(unrelated.output).toMatch(/^veil: configuration error: IDENTITY_HMAC_KEYS: none of its versions \(v9\) is a version this database's identifiers were hashed with$/m);
    expect((await start(env)).code).toBe('serving');
  }, 180_000);

  // A probe rolled `v2,v1` back to `v1` with identifiers filed under v2: it started without a word, and each person
  // filed under v2 was registered a second time.
  it('refuses a key set that drops a version taken into use after its current one, and warns of an older one dropped', async () => {
    const env = baseEnv();
    const filed = async (id: string, version: string) => {
      const client = await MongoClient.connect(env['MONGODB_URL'] as string);
      try {
        await client.db(env['MONGODB_DB']).collection<{ _id: string }>('identifiers').insertOne({ _id: id, keyVersion: version, kind: 'EMAIL', customerId: 'cus_x', linkedAt: new Date() } as { _id: string });
      } finally {
        await client.close();
      }
    };
    expect((await start(env)).code).toBe('serving');
    await filed('v1:a', 'v1');
    const other = await generateDevKeys();
    const v2 = other.identityHmacKeys.replace(/^v1:/, 'v2:');
    const rotated = `${v2},${keys.identityHmacKeys}`;
    expect((await start({ ...env, IDENTITY_HMAC_KEYS: rotated })).code).toBe('serving');
    // v2 recorded, but no identifier under it yet: rolling back loses nothing and is allowed.
    const early = await start(env);
    expect(early.code, early.output).toBe('serving');
    expect(early.output).not.toContain('does not list');
    await filed('v2:b', 'v2');
    const rollback = await start(env);
    expect(rollback.code, rollback.output).toBe(78);
    expect(rollback.output).toMatch(/^veil: configuration error: IDENTITY_HMAC_KEYS: does not list "v2", which this database took into use after the versions it lists and has identifiers under: they would not be found, and their customers would be registered again; list it after the current version$/m);
    // Nor with another new version in front of v1 (a regression probe: the new current, not recorded yet, let it pass).
    const v3 = (await generateDevKeys()).identityHmacKeys.replace(/^v1:/, 'v3:');
    expect((await start({ ...env, IDENTITY_HMAC_KEYS: `${v3},${keys.identityHmacKeys}` })).code).toBe(78);
    // A rollback that keeps v2 after the current version serves.
    expect((await start({ ...env, IDENTITY_HMAC_KEYS: `${keys.identityHmacKeys},${v2}` })).code).toBe('serving');
    // Dropping the older v1 (a retirement) serves, with a warning at every start.
    const retired = await start({ ...env, IDENTITY_HMAC_KEYS: v2 });
    expect(retired.code, retired.output).toBe('serving');
    expect(retired.output).toContain('IDENTITY_HMAC_KEYS: does not list \\"v1\\", which this database has identifiers under');
    expect(retired.output).not.toContain(other.identityHmacKeys.slice(3));
  }, 180_000);

  // A regression probe: versions recorded by one start were dated current first, so a rollback dropping the newer one
  // read as a retirement; and a database whose starts recorded no version warned of nothing.
  it('dates the versions one start records current last, and warns of unlisted versions on a database with no record of any', async () => {
    const client = await MongoClient.connect(inject('mongoUrl'));
    const dbs: string[] = [];
    try {
      const master = PiiEnvelope.fromBase64(keys.piiMasterKey);
      const other = await generateDevKeys();
      const v1 = keys.identityHmacKeys;
      const v2 = other.identityHmacKeys.replace(/^v1:/, 'v2:');
      const fresh = async () => {
        const name = `veil_keys_${randomBytes(4).toString('hex')}`;
        dbs.push(name);
        const db = client.db(name);
        await db.collection<{ _id: string; keyVersion: string }>('identifiers').insertMany([{ _id: 'v1:x', keyVersion: 'v1' }, { _id: 'v2:y', keyVersion: 'v2' }]);
        return db;
      };
      const recordedTogether = await fresh();
      await verifyKeysAgainstStore(recordedTogether, HmacKeyring.parse(`${v2},${v1}`), master);
      await expect(verifyKeysAgainstStore(recordedTogether, HmacKeyring.parse(v1), master)).rejects.toThrow(/does not list "v2", which this database took into use after/);
      const unrecorded = await fresh();
      const warnings = await verifyKeysAgainstStore(unrecorded, HmacKeyring.parse(v1), master);
      expect(warnings.some((w) => w.includes('does not list "v2"'))).toBe(true);
      // Records of the release before, dated current first by one start: their order says nothing, so neither a
      // retirement nor a rollback is refused (a regression probe: the retirement was refused, the rollback passed).
      const legacy = await fresh();
      const both = HmacKeyring.parse(`${v2},${v1}`);
      const at = Date.now() - 60_000;
      await legacy.collection<{ _id: string; value: string; recordedAt: Date }>('key_checks').insertMany([
        { _id: 'hmac:v2', value: both.checkValue('v2'), recordedAt: new Date(at) },
        { _id: 'hmac:v1', value: both.checkValue('v1'), recordedAt: new Date(at + 3) },
        { _id: 'pii-master-key', value: master.masterKeyId, recordedAt: new Date(at + 4) },
      ]);
      expect((await verifyKeysAgainstStore(legacy, HmacKeyring.parse(v2), master)).some((w) => w.includes('does not list "v1"'))).toBe(true);
      expect((await verifyKeysAgainstStore(legacy, HmacKeyring.parse(v1), master)).some((w) => w.includes('does not list "v2"'))).toBe(true);
    } finally {
      for (const name of dbs) await client.db(name).dropDatabase();
      await client.close();
    }
  });

  // A database from before 2026-11-30: wrapped keys in `customer_keys` only, no key checks on record. A wrong master
  // key was taken and recorded, and the right one refused from then on (a regression probe).
  it('checks the master key against customer_keys on a database that keeps wrapped keys only there', async () => {
    const env = baseEnv();
    const db = env['MONGODB_DB'] as string;
    const ours = PiiEnvelope.fromBase64(keys.piiMasterKey).masterKeyId;
    const client = await MongoClient.connect(env['MONGODB_URL'] as string);
    try {
      // One written by hand without a fingerprint is no evidence either way (a regression probe: `null` refused the right key).
      await client.db(db).collection('customer_keys').insertOne({ _id: 'cus_00000000000000000000000000' as never, masterKeyId: null, createdAt: new Date() });
      await client.db(db).collection('customer_keys').insertOne({ _id: 'cus_00000000000000000000000001' as never, masterKeyId: ours, createdAt: new Date() });
    } finally {
      await client.close();
    }
    const other = await generateDevKeys();
    const wrong = await start({ ...env, PII_MASTER_KEY: other.piiMasterKey });
    expect(wrong.code, wrong.output).toBe(78);
    expect(wrong.output).toMatch(/^veil: configuration error: PII_MASTER_KEY: is not the key this database's customer data keys were wrapped with$/m);
    expect((await start(env)).code).toBe('serving');
  });
});

describe('npm run identifiers:retire', () => {
  function retire(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
    return runScript('scripts/retire-key-version.ts', args, env);
  }

  it('explains itself, refuses unknown options, and reports configuration in one line without secrets', async () => {
    const store = { MONGODB_URL: inject('mongoUrl'), MONGODB_DB: `veil_retire_${randomBytes(4).toString('hex')}` };
    const help = await retire(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.output).toContain('Step 3 of an HMAC key rotation');
    // `-d` used to be taken for the key version, and a misspelt --delete was ignored.
    expect((await retire(['-d', 'v1'], store)).code).toBe(2);
    expect((await retire(['v1', '--delte'], store)).output).toMatch(/unknown option "--delte"/);
    const missing = await retire(['v1'], {});
    expect([missing.code, missing.output.trim()]).toEqual([78, "identifiers:retire: MONGODB_URL: is required (npm start prints the dev server's URL)"]);
    // A trailing comma leaves a host the driver cannot parse: one line, not a stack trace after it (seen by hand).
    const comma = await retire(['v1'], { MONGODB_URL: `${inject('mongoUrl')},` });
    expect([comma.code, comma.output.trim()]).toEqual([78, 'identifiers:retire: MONGODB_URL: must list its hosts without an empty one (a trailing or doubled comma)']);
    const unreachable = await retire(['v1'], { MONGODB_URL: `mongodb://user:${SECRET}@127.0.0.1:${await findFreePort()}/` });
    expect(unreachable.code).toBe(1);
    expect(unreachable.output.trim()).toMatch(/^identifiers:retire: MONGODB_URL: cannot connect to MongoDB \(MongoServerSelectionError/);
    expect(unreachable.output).not.toContain(SECRET);
    // A database with no Veil data (MONGODB_DB forgotten) got "0 identifier records" and, with --delete, the all-clear
    // to drop the version from IDENTITY_HMAC_KEYS (a probe).
    const empty = await retire(['v1', '--delete'], store);
    expect([empty.code, empty.output.trim()]).toEqual([
      78,
      `identifiers:retire: MONGODB_DB: database "${store.MONGODB_DB}" holds no customers and no key checks: is it this deployment's database? (a server records its key checks when it starts)`,
    ]);
    const client = await MongoClient.connect(store.MONGODB_URL);
    try {
      const db = client.db(store.MONGODB_DB);
      await db.collection('key_checks').insertOne({ _id: 'hmac:v1' as never, value: 'x', recordedAt: new Date() });
      await db.collection('identifiers').insertOne({ _id: 'v1:someone' as never, keyVersion: 'v1', customerId: 'cus_00000000000000000000000000' });
      const mistyped = await retire(['V1', '--delete'], store);
      expect([mistyped.code, mistyped.output.trim()]).toEqual([2, 'identifiers:retire: V1: this database has no record of that key version (on record: v1)']);
      const only = await retire(['v1', '--delete'], store);
      expect(only.code).toBe(2);
      expect(only.output).toContain('v1 is the only key version on record');
      expect(await db.collection('identifiers').countDocuments()).toBe(1);
      // Once a second version is on record (the rotation's first step), v1 is reported.
      await db.collection('key_checks').insertOne({ _id: 'hmac:v2' as never, value: 'y', recordedAt: new Date() });
      // After `--`, a label that starts with `-` (IDENTITY_HMAC_KEYS allows one) is a version, not an option.
      const dashed = await retire(['--', '-v1'], store);
      expect([dashed.code, dashed.output.trim()]).toEqual([2, 'identifiers:retire: -v1: this database has no record of that key version (on record: v1, v2)']);
      const report = await retire(['v1'], store);
      expect(report.code).toBe(0);
      expect(report.output).toContain('v1: 1 identifier records, 0 re-keyed under another version (--delete removes them)');
    } finally {
      await client.db(store.MONGODB_DB).dropDatabase();
      await client.close();
    }
  }, 180_000);
});

