// The parts of autocannon 9's programmatic API that bench/load-worker.ts uses (the package ships no types).
declare module 'autocannon' {
  interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    p50: number;
    p90: number;
    p99: number;
  }
  interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    requests?: Array<{ method?: string; body?: string }>;
    setupClient?: (client: { setRequests(requests: Array<{ method: string; body: string }>): void }) => void;
    amount?: number;
    duration?: number;
    connections?: number;
    pipelining?: number;
    timeout?: number;
    verifyBody?: (body: string) => boolean;
  }
  interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    mismatches: number;
    non2xx: number;
    latency: Histogram;
    requests: Histogram & { total: number };
    statusCodeStats: Record<string, { count: number }>;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
