/**
 * The production artifact: `npm run build` output started as the Dockerfile's
 * CMD starts it (same node flags, NODE_ENV=production, a JWKS file), on the
 * real stores. It must serve, read and write through them, and stop cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { readProductionCommand, repoRoot, runTsc } from '../scripts/production-runtime.js';
import { DEV_AUDIENCE, DEV_ISSUER, devJwks, generateDevKeys, mintToken, type DevKeys } from '../src/dev/dev-keys.js';
import { AGENT_SCOPES, anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';

// Inside the repository, so that packages resolve from its node_modules as they do in the image's /app.
const workDir = path.join(repoRoot, '.veil-tmp', `build-${randomBytes(4).toString('hex')}`);
let child: ChildProcess | null = null;
let output = '';
let baseUrl = '';
let keys: DevKeys;

async function post(token: string | null, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, any> | null; errors?: Array<{ extensions?: Record<string, unknown> }> } };
}

beforeAll(async () => {
  const command = readProductionCommand();
  expect(command.entry).toBe('dist/main.js');
  // The image holds dist/ and schema/ side by side under /app; so does workDir.
  await mkdir(workDir, { recursive: true });
  await runTsc(['-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', path.join(workDir, 'dist')]);
  await symlink(path.join(repoRoot, 'schema'), path.join(workDir, 'schema'), 'dir');

  keys = await generateDevKeys();
  const jwksFile = path.join(workDir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(devJwks(keys)));
  const suffix = randomBytes(5).toString('hex');
  child = spawn(process.execPath, [...command.nodeFlags, command.entry], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      MONGODB_URL: inject('mongoUrl'),
      MONGODB_DB: `veil_prod_${suffix}`,
      REDIS_URL: inject('redisUrl'),
      REDIS_KEY_PREFIX: `p${suffix}:`,
      AUTH_JWKS_FILE: jwksFile,
      AUTH_ISSUER: DEV_ISSUER,
      AUTH_AUDIENCE: DEV_AUDIENCE,
      IDENTITY_HMAC_KEYS: keys.identityHmacKeys,
      PII_MASTER_KEY: keys.piiMasterKey,
      LOG_LEVEL: 'info',
    },
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the build did not start serving in 60 s:\n${output}`)), 60_000);
    child?.on('exit', (code) => reject(new Error(`the build exited with ${code}:\n${output}`)));
    const poll = setInterval(() => {
      for (const line of output.split('\n')) {
        if (!line.includes('veil subgraph serving')) continue;
        clearInterval(poll);
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
        return;
      }
    }, 50);
  });
  baseUrl = `http://127.0.0.1:${port}`;
}, 180_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
  }
  await rm(workDir, { recursive: true, force: true });
});

describe('the production build (dist/, the Dockerfile CMD)', () => {
  it('runs with the CMD node flags and reports ready on the real stores', async () => {
    const res = await fetch(`${baseUrl}/health/ready`);
    expect(res.status).toBe(200);
  });

  it('refuses a request without a token and serves one with a token', async () => {
    const anonymous = await post(null, '{ __typename }');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');

    const service = await mintToken(keys, { sub: 'svc-build', scopes: SERVICE_SCOPES });
    const email = anEmail('Build.Check');
    const registered = await post(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }], displayName: 'Build Check', country: 'IE' } });
    expect(registered.body.errors).toBeUndefined();
    const id = registered.body.data?.['registerCustomer'].id as string;

    const agent = await mintToken(keys, { sub: 'agent-build', scopes: AGENT_SCOPES });
    const read = await post(agent, 'query ($id: ID!) { customer(id: $id) { id displayName email } }', { id });
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data?.['customer']).toMatchObject({ id, displayName: 'Build C.' });
    expect(read.body.data?.['customer'].email).not.toContain('Build.Check');
  });

  // The Dockerfile's HEALTHCHECK, run as Docker runs it: it asked 127.0.0.1 whatever HOST said (a probe).
  it("passes the Dockerfile's HEALTHCHECK for HOST as given or a wildcard, and fails it for a port nothing serves", async () => {
    const dockerfile = await readFile(path.join(repoRoot, 'Dockerfile'), 'utf8');
    const script = /HEALTHCHECK[^\n]*\\\n\s*CMD node -e "([^"]+)"/.exec(dockerfile)?.[1];
    expect(script).toBeDefined();
    const port = new URL(baseUrl).port;
    const check = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => spawn(process.execPath, ['-e', script!], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'ignore' }).once('exit', resolve));
    expect(await check({ PORT: port, HOST: '127.0.0.1' })).toBe(0);
    expect(await check({ PORT: port, HOST: '0.0.0.0' })).toBe(0);
    expect(await check({ PORT: port })).toBe(0);
    expect(await check({ PORT: port, HOST: '::1' })).toBe(1);
    expect(await check({ PORT: '1', HOST: '127.0.0.1' })).toBe(1);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child?.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/bad option|Error:/);
  });
});
