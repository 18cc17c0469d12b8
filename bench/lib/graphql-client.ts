import { request } from 'node:http';

export interface GraphQLResult<T> {
  status: number;
  data: T | null;
  errors: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>;
}

/**
 * One GraphQL request over loopback (seeding, probes and the sequential
 * counting phase; never the load). node:http rather than fetch: fetch gives up
 * after 300 s, and a first request on a cold FerretDB can take longer.
 */
export async function postGraphQL<T = Record<string, unknown>>(url: string, token: string | null, body: string, timeoutMs = 900_000): Promise<GraphQLResult<T>> {
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
  let parsed: { data?: T | null; errors?: GraphQLResult<T>['errors'] };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return { status, data: null, errors: [{ message: `not JSON (${text.length} bytes)` }] };
  }
  return { status, data: parsed.data ?? null, errors: parsed.errors ?? [] };
}

export async function graphql<T = Record<string, unknown>>(url: string, token: string | null, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResult<T>> {
  return postGraphQL<T>(url, token, JSON.stringify({ query, variables }));
}

/** Throws with the first error message: seeding must not go on silently on a failure. */
export function requireData<T>(result: GraphQLResult<T>, what: string): T {
  if (result.errors.length > 0 || result.data === null) {
    const first = result.errors[0];
    throw new Error(`${what} failed (HTTP ${result.status}): ${first ? `${first.message} ${JSON.stringify(first.extensions ?? {})}` : 'no data'}`);
  }
  return result.data;
}

/** Runs `task` over `items` with at most `concurrency` at a time; keeps order. */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  });
  await Promise.all(workers);
  return results;
}
