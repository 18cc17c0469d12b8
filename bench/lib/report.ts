import type { RequestCount, WaitShare } from './query-count.js';
import { round, type Spread } from './stats.js';

export interface Measurement {
  server: string;
  workload: string;
  rep: number;
  amount: number;
  connections: number;
  /** Net of the server's idle background CPU over the same wall time (timers, heartbeats, metrics). */
  cpuMsPerRequest: number;
  rawCpuMsPerRequest: number;
  idleCpuMsPerSecond: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  maxRssMb: number;
}

export interface Aggregate {
  server: string;
  workload: string;
  reps: number;
  amountPerRep: number;
  connections: number;
  cpuMsPerRequest: Spread;
  rawCpuMsPerRequest: Spread;
  idleCpuMsPerSecond: number;
  rps: Spread;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors + timeouts + non-2xx + GraphQL errors, warm-up included. */
  errors: number;
  maxRssMb: number;
}

export interface TargetResult {
  name: string;
  measured: string;
  value: number | null;
  limit: string;
  /** null: not measured in this run (the reason is in `measured`). */
  pass: boolean | null;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function formatTable(headers: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i] ?? 0, rightAligned.includes(i))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const fmt = (n: number, digits = 3) => (Number.isFinite(n) ? String(round(n, digits)) : 'n/a');

export function formatAggregates(aggregates: readonly Aggregate[]): string {
  return formatTable(
    ['server', 'workload', 'reps x req', 'conns', 'CPU ms/req median [min-max]', 'idle ms/s', 'rps median [min-max]', 'p50 ms', 'p99 ms', 'errors', 'max RSS MB'],
    aggregates.map((a) => [
      a.server,
      a.workload,
      `${a.reps} x ${a.amountPerRep}`,
      String(a.connections),
      `${fmt(a.cpuMsPerRequest.median)} [${fmt(a.cpuMsPerRequest.min)}-${fmt(a.cpuMsPerRequest.max)}]`,
      fmt(a.idleCpuMsPerSecond, 1),
      `${fmt(a.rps.median, 1)} [${fmt(a.rps.min, 1)}-${fmt(a.rps.max, 1)}]`,
      fmt(a.p50Ms, 1),
      fmt(a.p99Ms, 1),
      String(a.errors),
      fmt(a.maxRssMb, 0),
    ]),
    [3, 5, 7, 8, 9, 10],
  );
}

export function formatTargets(targets: readonly TargetResult[]): string {
  return formatTable(
    ['target', 'measured', 'limit', 'result'],
    targets.map((t) => [t.name, t.measured, t.limit, t.pass === null ? (t.name.startsWith('(info)') ? 'info' : 'NOT RUN') : t.pass ? 'PASS' : 'FAIL']),
  );
}

const describe = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';

export function formatCounts(counts: readonly RequestCount[]): string {
  return formatTable(
    ['request', 'reps/distinct', 'ok', 'MongoDB finds', 'other MongoDB', 'Redis (MONITOR) per kind', 'Redis round trips kind/op', 'one find/type', '<=1 Redis/kind'],
    counts.map((c) => [
      `${c.label}${c.isRepeat ? ' (repeat)' : ''}`,
      `${c.representations}/${c.distinct}`,
      c.ok ? 'yes' : `NO: ${c.errors[0] ?? 'wrong result'}`.slice(0, 60),
      describe(c.mongoFinds),
      describe(c.mongoOther),
      describe(c.redisMonitorCommands),
      describe(c.redisRoundTrips),
      c.isOneFindPerType ? 'PASS' : 'FAIL',
      c.isOneRedisRoundTripPerKind ? 'PASS' : 'FAIL',
    ]),
  );
}

export function formatWaitShares(shares: readonly WaitShare[]): string {
  return formatTable(
    ['workload (S, 1 at a time)', 'requests', 'wall ms/req', 'MongoDB ms/req', 'Redis ms/req', 'MongoDB share', 'Redis share', 'either store'],
    shares.map((s) => [
      s.workload,
      String(s.requests),
      fmt(s.wallMsPerRequest, 2),
      fmt(s.mongoMsPerRequest, 2),
      fmt(s.redisMsPerRequest, 2),
      `${fmt(s.mongoShare * 100, 1)}%`,
      `${fmt(s.redisShare * 100, 1)}%`,
      `${fmt(s.storeShare * 100, 1)}%`,
    ]),
    [1, 2, 3, 4, 5, 6, 7],
  );
}
