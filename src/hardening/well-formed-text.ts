/**
 * Text that is not valid Unicode: a UTF-16 surrogate with no partner (JSON's
 * `"\ud800"` parses into one). No store keeps it as sent: BSON and the wire
 * carry UTF-8, where it becomes U+FFFD, so an audit event hashed over what was
 * sent and stored as something else would fail verification for good, and
 * Redis scripts refuse it. Such a request is refused before anything runs.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether any text in `value`, key or value, at any depth, is not valid Unicode. */
export function holdsIllFormedText(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(holdsIllFormedText);
  return Object.entries(value).some(([key, item]) => LONE_SURROGATE.test(key) || holdsIllFormedText(item));
}

/**
 * Which GraphQL parameter (`query`, `variables`, `operationName`, `extensions`) holds text that is not valid Unicode;
 * null when none does. Only the parameter is named: a deeper key is the caller's text, and could be anything.
 */
export function illFormedParameter(params: unknown): string | null {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return null;
  for (const [name, value] of Object.entries(params)) {
    if (holdsIllFormedText(value) || LONE_SURROGATE.test(name)) return /^[A-Za-z]{1,20}$/.test(name) ? name : 'a parameter';
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
