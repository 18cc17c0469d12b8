/**
 * `npm run load`: a mixed agent workload held against the subgraph for a fixed
 * time, loopback only, with a fixed number of requests in flight.
 *
 *   npm run load -- [--seconds 60] [--concurrency 16] [--customers 40]
 *                   [--mongodb-url URL --redis-url URL]
 *
 * Starts its own MongoDB-compatible server and Redis in a temp directory
 * unless both URLs are given (then it uses a fresh database and key prefix and
 * removes them afterwards), serves the subgraph in this process on
 * 127.0.0.1, seeds customers through the API, then runs: resolveCustomer,
 * customer(id) masked, _entities batches of 20 and, when the consent/context
 * work is present, Customer.context reads. Prints throughput, p50/p99 per
 * operation and in total, and the error count; exits 1 on any error.
 *
 * The client shares the process with the server, so throughput here is what
 * one process sustains for both; `npm run bench` measures the server alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createApp, type App } from '../src/app.js';
import { loadConfig, type ResolvedConfig } from '../src/config.js';
import { devJwks, generateDevKeys, mintToken } from '../src/dev/dev-keys.js';
import { startDevServices, type DevServices } from '../src/dev/services.js';
import { createLogger } from '../src/observability/logger.js';

interface Options {
  seconds: number;
  concurrency: number;
  customers: number;
  mongodbUrl: string | null;
  redisUrl: string | null;
}

const USAGE = `npm run load -- [options]: a mixed agent workload against a subgraph served in this process, for a fixed time
  --seconds N             how long (default 60)
  --concurrency N         requests in flight (default 16)
  --customers N           customers seeded (default 40)
  --mongodb-url URL --redis-url URL   your own stores instead of dev services (a fresh database/prefix, removed after)`;

function readOptions(): Options {
  if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
    console.log(USAGE);
    process.exit(0);
  }
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      concurrency: { type: 'string', default: '16' },
      customers: { type: 'string', default: '40' },
      'mongodb-url': { type: 'string' },
      'redis-url': { type: 'string' },
    },
  });
  const positive = (name: string, raw: string, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be a whole number from 1 to ${max}`);
    return n;
  };
  const mongodbUrl = values['mongodb-url'] ?? null;
  const redisUrl = values['redis-url'] ?? null;
  if ((mongodbUrl === null) !== (redisUrl === null)) throw new Error('give both --mongodb-url and --redis-url, or neither');
  return {
    seconds: positive('seconds', values.seconds, 24 * 3600),
    concurrency: positive('concurrency', values.concurrency, 256),
    customers: positive('customers', values.customers, 1000),
    mongodbUrl,
    redisUrl,
  };
}

interface Reply {
  status: number;
  errors: Array<{ extensions?: { code?: string } }> | undefined;
  data: Record<string, unknown> | null | undefined;
}

async function post(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<Reply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { data?: Record<string, unknown> | null; errors?: Reply['errors'] };
  return { status: res.status, errors: body.errors, data: body.data };
}

function requireClean(reply: Reply, what: string): Record<string, unknown> {
  if (reply.status !== 200 || reply.errors || !reply.data) {
    throw new Error(`${what} failed during setup: HTTP ${reply.status} ${(reply.errors ?? []).map((e) => e.extensions?.code).join(', ')}`);
  }
  return reply.data;
}

interface Operation {
  name: string;
  weight: number;
  run: () => Promise<Reply>;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const options = readOptions();
  const say = (line: string) => console.log(`load: ${line}`);
  const tag = randomBytes(4).toString('hex');
  let tempDir: string | null = null;
  let devServices: DevServices | null = null;
  let app: App | null = null;

  try {
    if (options.mongodbUrl === null) {
      tempDir = await mkdtemp(path.join(os.tmpdir(), 'veil-load-'));
      say(`starting a MongoDB-compatible server and Redis under ${tempDir}`);
      devServices = await startDevServices({ dataDir: tempDir, log: (line) => say(line) });
    }
    const keys = await generateDevKeys();
    const config = loadConfig({
      NODE_ENV: 'development',
      MONGODB_URL: options.mongodbUrl ?? devServices!.mongoUrl,
      REDIS_URL: options.redisUrl ?? devServices!.redisUrl,
      MONGODB_DB: `veil_load_${tag}`,
      REDIS_KEY_PREFIX: `load${tag}:`,
      AUTH_ISSUER: 'https://load.veil.local/',
      AUTH_AUDIENCE: 'veil-load',
      IDENTITY_HMAC_KEYS: keys.identityHmacKeys,
      PII_MASTER_KEY: keys.piiMasterKey,
      LOG_LEVEL: 'warn',
      // Each simulated agent would stay far below the default; the run uses a few tokens for many agents.
      RATE_LIMIT_SENSITIVE_MAX: '1000000',
    }) as ResolvedConfig;
    app = await createApp({ config, logger: createLogger(config.logLevel), jwks: devJwks(keys), collectDefaultMetrics: false });
    const port = await app.subgraph.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}/graphql`;
    const token = (sub: string, scopes: string[]) => mintToken(keys, { sub, scopes, issuer: config.authIssuer, audience: config.authAudience, ttlSeconds: options.seconds + 600 });
    const service = await token('svc-load', ['identity:resolve', 'identity:write', 'consent:write', 'context:write']);
    const agents = await Promise.all(Array.from({ length: 8 }, (_, i) => token(`agent-load-${i}`, ['customer:read', 'context:read', 'consent:read'])));

    say(`seeding ${options.customers} customers through the API`);
    const customers: Array<{ id: string; email: string }> = [];
    for (let i = 0; i < options.customers; i++) {
      const email = `load.${tag}.${i}@example.com`;
      const data = requireClean(
        await post(url, service, `mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { id } }`, {
          input: { identifiers: [{ kind: 'EMAIL', value: email }], displayName: `Load Person ${i}`, country: 'GB' },
        }),
        'registerCustomer',
      );
      const id = (data['registerCustomer'] as { id: string }).id;
      requireClean(
        await post(url, service, `mutation($input: RecordConsentInput!) { recordConsent(input: $input) { id } }`, {
          input: { customerId: id, scopes: ['support_context'], source: 'load-seed' },
        }),
        'recordConsent',
      );
      customers.push({ id, email });
    }

    const CONTEXT = `query LoadContext($id: ID!) { customer(id: $id) { id context { generatedAt openTickets { id status } lastInteractions { id channel } } } }`;
    const probe = await post(url, agents[0]!, CONTEXT, { id: customers[0]!.id });
    const hasContext = probe.status === 200 && !probe.errors;
    if (!hasContext) say(`Customer.context does not resolve yet (${(probe.errors ?? []).map((e) => e.extensions?.code).join(', ')}); leaving it out of the mix`);

    let n = 0;
    const pick = <T>(items: readonly T[]): T => items[n++ % items.length]!;
    const operations: Operation[] = [
      {
        name: 'resolveCustomer',
        weight: 3,
        run: () =>
          post(url, pick(agents), `query LoadResolve($value: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $value }, channel: VOICE }) { matchedBy customer { id email displayName } } }`, {
            value: pick(customers).email.toUpperCase(),
          }),
      },
      {
        name: 'customer (masked)',
        weight: 4,
        run: () => post(url, pick(agents), `query LoadCustomer($id: ID!) { customer(id: $id) { id status displayName email phone country consent { scopes } } }`, { id: pick(customers).id }),
      },
      {
        name: '_entities x20',
        weight: 2,
        run: () => {
          const start = n++ % customers.length;
          const representations = Array.from({ length: 20 }, (_, i) => ({ __typename: 'Customer', id: customers[(start + i) % customers.length]!.id }));
          return post(url, pick(agents), `query LoadEntities($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id status displayName email } } }`, { r: representations });
        },
      },
      ...(hasContext ? [{ name: 'customer.context', weight: 2, run: () => post(url, pick(agents), CONTEXT, { id: pick(customers).id }) }] : []),
    ];
    const schedule = operations.flatMap((op) => Array.from({ length: op.weight }, () => op));

    say(`running for ${options.seconds} s with ${options.concurrency} requests in flight: ${operations.map((o) => `${o.name} x${o.weight}`).join(', ')}`);
    const latencies = new Map<string, number[]>(operations.map((o) => [o.name, []]));
    const errors: string[] = [];
    const started = performance.now();
    const deadline = started + options.seconds * 1000;
    let next = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const op = schedule[next++ % schedule.length]!;
        const t0 = performance.now();
        try {
          const reply = await op.run();
          if (reply.status !== 200 || reply.errors) errors.push(`${op.name}: HTTP ${reply.status} ${(reply.errors ?? []).map((e) => e.extensions?.code).join(',')}`);
        } catch (error) {
          errors.push(`${op.name}: ${error instanceof Error ? error.name : 'failure'}`);
        }
        latencies.get(op.name)!.push(performance.now() - t0);
      }
    };
    const progress = setInterval(() => {
      const done = [...latencies.values()].reduce((sum, l) => sum + l.length, 0);
      say(`  ${((performance.now() - started) / 1000).toFixed(0)} s: ${done} requests, ${errors.length} errors`);
    }, 10_000);
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    clearInterval(progress);
    const elapsed = (performance.now() - started) / 1000;

    const all = [...latencies.values()].flat().sort((a, b) => a - b);
    const rows = [...latencies.entries()].map(([name, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return { operation: name, requests: sorted.length, 'req/s': +(sorted.length / elapsed).toFixed(1), 'p50 ms': +percentile(sorted, 50).toFixed(1), 'p99 ms': +percentile(sorted, 99).toFixed(1) };
    });
    rows.push({ operation: 'all', requests: all.length, 'req/s': +(all.length / elapsed).toFixed(1), 'p50 ms': +percentile(all, 50).toFixed(1), 'p99 ms': +percentile(all, 99).toFixed(1) });
    console.table(rows);
    say(`${all.length} requests in ${elapsed.toFixed(1)} s: ${(all.length / elapsed).toFixed(1)} req/s, p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms, errors ${errors.length}`);
    if (errors.length > 0) {
      const counts = new Map<string, number>();
      for (const e of errors) counts.set(e, (counts.get(e) ?? 0) + 1);
      for (const [e, count] of [...counts.entries()].slice(0, 10)) say(`  error x${count}: ${e}`);
      process.exitCode = 1;
    }
  } finally {
    if (app) {
      if (options.mongodbUrl !== null) {
        // Given servers: remove what this run wrote.
        await app.mongo.db.dropDatabase();
        const prefix = app.config.redisKeyPrefix;
        const keys = await app.redis.keys(`${prefix}*`);
        if (keys.length > 0) await app.redis.del(...keys.map((k) => k.slice(prefix.length)));
      }
      await app.stop();
    }
    await devServices?.stop();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`load: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
