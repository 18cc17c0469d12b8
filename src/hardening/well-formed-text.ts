/**
 * Text that is not valid Unicode: a UTF-16 surrogate with no partner (JSON's
 * `"\ud800"` parses into one). No store keeps it as sent: BSON and the wire
 * carry UTF-8, where it becomes U+FFFD, so an audit event hashed over what was
 * sent and stored as something else would fail verification for good, and
 * Redis scripts refuse it. Such a request is refused before anything runs.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * How deep variables and extensions may nest (objects and lists). The schema's deepest input is a few levels; a
 * caller's `[[[[...]]]]` thousands deep overflowed the stack of a recursive walk and answered HTTP 500 (a probe).
 */
export const MAX_PARAMETER_DEPTH = 64;

export type ParameterProblem = 'ill-formed' | 'too-deep';

/** What is wrong with `value`, at any depth (keys too), or null: walked with a stack of its own, never recursively. */
function inspect(value: unknown): ParameterProblem | null {
  const pending: Array<{ item: unknown; depth: number }> = [{ item: value, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { item, depth } = next;
    if (typeof item === 'string') {
      if (LONE_SURROGATE.test(item)) return 'ill-formed';
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth >= MAX_PARAMETER_DEPTH) return 'too-deep';
    for (const [key, child] of Object.entries(item)) {
      if (LONE_SURROGATE.test(key)) return 'ill-formed';
      pending.push({ item: child, depth: depth + 1 });
    }
  }
  return null;
}

/**
 * Which GraphQL parameter (`query`, `variables`, `operationName`, `extensions`) holds text that is not valid Unicode
 * or nests deeper than MAX_PARAMETER_DEPTH, and which of the two; null when none does. Only the parameter is named:
 * a deeper key is the caller's text, and could be anything.
 */
export function checkParameters(params: unknown): { parameter: string; problem: ParameterProblem } | null {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return null;
  for (const [name, value] of Object.entries(params)) {
    const problem = LONE_SURROGATE.test(name) ? 'ill-formed' : inspect(value);
    if (problem) return { parameter: /^[A-Za-z]{1,20}$/.test(name) ? name : 'a parameter', problem };
  }
  return null;
}

/** The GraphQL parameters of a GET request, as Apollo will read them (`variables` and `extensions` as JSON). */
export function graphqlParamsOfSearch(search: URLSearchParams): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const name of ['query', 'operationName', 'variables', 'extensions']) {
    const raw = search.get(name);
    if (raw === null) continue;
    if (name === 'variables' || name === 'extensions') {
      try {
        params[name] = JSON.parse(raw) as unknown;
      } catch {
        params[name] = raw; // Apollo answers malformed JSON itself.
      }
    } else params[name] = raw;
  }
  return params;
}
