import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';

/** Codes whose messages we wrote ourselves and may show to callers. */
const CALLER_SAFE_CODES = new Set([
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
  'QUERY_TOO_COMPLEX',
]);

/**
 * Everything that reaches a caller passes here: our own errors keep their
 * message and code; graphql-js' own messages lose any value they quote (a
 * coercion error would echo an email address back); anything else (driver,
 * Redis, a bug) becomes a generic INTERNAL_SERVER_ERROR and is reported to
 * `onUnexpected` for the log.
 */
export function createErrorFormatter(onUnexpected: (error: unknown) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    const original = unwrapResolverError(error);
    if (typeof code === 'string' && CALLER_SAFE_CODES.has(code)) {
      const { stacktrace: _stack, exception: _exception, ...extensions } = formatted.extensions ?? {};
      const isOwnMessage = original instanceof GraphQLError && original.constructor !== GraphQLError;
      return { ...formatted, message: isOwnMessage ? formatted.message : redactValues(formatted.message), extensions };
    }
    onUnexpected(original);
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

const KEEP_QUOTED = /^(\$[A-Za-z_][A-Za-z0-9_]*|[A-Z_][A-Za-z0-9_]*[!\]\[]*|\[*[A-Z][A-Za-z0-9_]*!?\]*!?|[a-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)$/;

/** Keeps variable names, type names and paths; drops quoted and literal values. */
export function redactValues(message: string): string {
  return message
    .replace(/"((?:[^"\\]|\\.)*)"/g, (whole, inner: string) => (KEEP_QUOTED.test(inner) ? whole : '"<redacted>"'))
    .replace(/(found|value:|got invalid value) (?!")[^;]*?(;|$| at )/g, '$1 <redacted>$2')
    .slice(0, 400);
}
