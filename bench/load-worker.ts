/**
 * The load generator: its own process, driven by bench/run.ts over IPC so that
 * its CPU never counts as the server's. Each job is a fixed number of requests
 * (autocannon's `amount`) over a few keep-alive connections.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

export interface LoadJob {
  id: number;
  url: string;
  /** One body, or several that each connection cycles through from its own starting point. */
  body: string | string[];
  headers: Record<string, string>;
  amount: number;
  connections: number;
  timeoutSeconds: number;
}

export interface LoadResult {
  completed: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  non2xx: number;
  /** 2xx responses whose body carried GraphQL errors (or was not GraphQL data at all). */
  graphqlErrors: number;
}

/** A 200 with `"errors":` in the body is a failed GraphQL request; masked values never contain that text. */
function isCleanBody(body: string): boolean {
  return !body.includes('"errors":');
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  const started = performance.now();
  const bodies = Array.isArray(job.body) ? job.body : [job.body];
  // autocannon refuses more connections than requests.
  const connections = Math.min(job.connections, job.amount);
  let nextClient = 0;
  // Connection k starts k/connections of the way through the bodies, so that concurrent requests name different customers.
  const setupClient = (client: { setRequests(requests: Array<{ method: string; body: string }>): void }) => {
    const offset = Math.floor((nextClient++ * bodies.length) / connections) % bodies.length;
    const rotated = [...bodies.slice(offset), ...bodies.slice(0, offset)];
    client.setRequests(rotated.map((body) => ({ method: 'POST', body })));
  };
  const result = await autocannon({
    url: job.url,
    method: 'POST',
    headers: job.headers,
    ...(bodies.length === 1 ? { body: bodies[0] } : { requests: bodies.map((body) => ({ method: 'POST', body })), setupClient }),
    amount: job.amount,
    connections,
    timeout: job.timeoutSeconds,
    verifyBody: isCleanBody,
  });
  // autocannon rounds its duration to 10 ms; a short run needs better.
  const durationS = (performance.now() - started) / 1000;
  const completed = Object.values(result.statusCodeStats).reduce((sum, s) => sum + Number(s.count), 0);
  return {
    completed,
    durationS,
    rps: durationS > 0 ? completed / durationS : 0,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    meanMs: result.latency.mean ?? result.latency.average,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    graphqlErrors: result.mismatches,
  };
}

process.on('message', (raw: unknown) => {
  const job = raw as LoadJob;
  runJob(job).then(
    (result) => process.send?.({ id: job.id, result }),
    (error: unknown) => process.send?.({ id: job.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
