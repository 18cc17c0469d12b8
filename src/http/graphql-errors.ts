import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  BadUserInputError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  ServiceUnavailableError,
  UnauthenticatedError,
} from '../errors.js';
import { findOperationLimitError, OPERATION_LIMIT_CODE } from '../hardening/operation-limits.js';
import { classifyInfrastructureError } from './infrastructure-errors.js';
import { containsIdentifier } from '../identity/free-text-guard.js';

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
  OPERATION_LIMIT_CODE,
]);

export interface ErrorFormatterHooks {
  /** Drop graphql-js' "Did you mean ...?" hints: with introspection off they would leak the schema field by field. */
  hideSuggestions?: boolean;
}

/** Errors whose messages we wrote (src/errors.ts). Apollo's and graphql-js' own subclasses quote what the caller sent. */
const OWN_ERROR_CLASSES = [BadUserInputError, UnauthenticatedError, ForbiddenError, NotFoundError, ServiceUnavailableError, RateLimitedError, ConflictError];

function isOwnError(error: unknown): error is GraphQLError {
  return OWN_ERROR_CLASSES.some((ownClass) => error instanceof ownClass);
}

/**
 * Everything that reaches a caller passes here: our own errors keep their
 * message and code; graphql-js' own messages lose any value they quote (a
 * coercion error would echo an email address back); an operation over a limit
 * gets its stable QUERY_TOO_COMPLEX code back (Apollo re-labels validation
 * errors); an unreachable MongoDB or Redis becomes SERVICE_UNAVAILABLE naming
 * the store and nothing else; anything else (a bug, a driver error) becomes a
 * generic INTERNAL_SERVER_ERROR and is reported to `onUnexpected` for the log.
 */
export function createErrorFormatter(onUnexpected: (error: unknown) => void, hooks: ErrorFormatterHooks = {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    const original = unwrapResolverError(error);
    const where = { ...(formatted.path ? { path: formatted.path } : {}), ...(formatted.locations ? { locations: formatted.locations } : {}) };
    const limit = findOperationLimitError(original);
    if (limit) {
      return { message: limit.message, ...where, extensions: { code: OPERATION_LIMIT_CODE, limit: limit.limit, maximum: limit.maximum } };
    }
    // graphql-js stops validating an operation whose repeated fields or fragments would take too long to compare
    // (1,000 `__typename` selections do, under the token limit): a limit too, and the caller can act on it (a probe).
    if (code === 'GRAPHQL_VALIDATION_FAILED' && formatted.message === 'Validation aborted.') {
      return {
        message: 'The operation repeats too many fields or fragments to validate; send a smaller operation',
        ...where,
        extensions: { code: OPERATION_LIMIT_CODE, limit: 'validation' },
      };
    }
    // Apollo's own words tell the operator to change code ("pass introspection: true to ApolloServer"): the switch is a
    // variable here (a probe followed the README and found the message pointing elsewhere).
    if (code === 'GRAPHQL_VALIDATION_FAILED' && formatted.extensions?.['validationErrorCode'] === 'INTROSPECTION_DISABLED') {
      return {
        message: 'Introspection is off on this server (INTROSPECTION, off in production); the schema is served by _service { sdl }',
        ...where,
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED', validationErrorCode: 'INTROSPECTION_DISABLED' },
      };
    }
    // graphql-js' parser recurses once per level of nesting: a literal nested some 1,600 levels deep, well under the
    // token limit, overflows the stack, and the caller was shown "Maximum call stack size exceeded" (a probe).
    if (code === 'GRAPHQL_PARSE_FAILED' && /maximum call stack size exceeded/i.test(formatted.message)) {
      return {
        message: 'The document nests too deeply to parse; send a flatter one',
        ...where,
        extensions: { code: OPERATION_LIMIT_CODE, limit: 'depth' },
      };
    }
    // A scalar's parseLiteral refusing a literal (a bad date) is reported by validation; keep the scalar's own code.
    const inner = original instanceof GraphQLError ? original.originalError : undefined;
    if (code === 'GRAPHQL_VALIDATION_FAILED' && isOwnError(inner)) {
      return { message: inner.message, ...where, extensions: { ...inner.extensions } };
    }
    if (isCodelessRequestError(error)) {
      // Apollo refuses some requests before any operation runs (a persisted-query extension of the wrong version or
      // with a hash that does not match) with an HTTP 4xx and no code: a bad request, not a failure of ours.
      return { message: redactValues(formatted.message), ...where, extensions: { code: 'BAD_REQUEST' } };
    }
    if (typeof code === 'string' && CALLER_SAFE_CODES.has(code)) {
      const { stacktrace: _stack, exception: _exception, http: _http, ...extensions } = formatted.extensions ?? {};
      let message = isOwnError(original) ? formatted.message : redactValues(formatted.message);
      if (hooks.hideSuggestions) message = message.replace(/ ?Did you mean [^?]*\?/g, '');
      return { ...formatted, message, extensions };
    }
    const service = classifyInfrastructureError(original);
    if (service) {
      const unavailable = new ServiceUnavailableError(service);
      return { message: unavailable.message, ...where, extensions: { code: 'SERVICE_UNAVAILABLE', service } };
    }
    onUnexpected(original);
    return { message: 'Internal server error', ...where, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

function isCodelessRequestError(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.extensions.code !== undefined || error.originalError || error.path) return false;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

const KEEP_QUOTED = /^(\$[A-Za-z_][A-Za-z0-9_]*|[A-Z_][A-Za-z0-9_]*[!\]\[]*|\[*[A-Z][A-Za-z0-9_]*!?\]*!?|[a-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)$/;

const COORDINATE = /^[A-Z][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/;

/** What of a message is read at most: answers keep 400 characters, and every step below is linear up to this. */
const MAX_MESSAGE_READ = 2_000;
/** Said instead when what is left would still spell an address or a phone number. */
const WITHHELD = 'The request holds a value that is not accepted here (the message quoting it is withheld)';

/**
 * Keeps variable names, type names and paths; drops quoted and literal values. One pass over the message, left to
 * right (a regex that retried every quote, and then one whose lookbehind rescanned backslash runs, were quadratic:
 * 100 KB of backslashes in an enum value blocked the process for 2.8 s; probes). A quoted value right after `value`
 * or `found` is the caller's, however name-like it looks (a CRM id can: `Value "CRM000001" does not exist in
 * "IdentifierKind" enum.`); a quote left open (graphql-js prints some values raw, quotes and all) hides the rest. A
 * message that still spells an address or a phone number after all this is withheld whole.
 */
export function redactValues(message: string): string {
  const text = message.slice(0, MAX_MESSAGE_READ);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const quote = text.indexOf('"', i);
    if (quote === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, quote);
    let end = quote + 1;
    while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
    if (end >= text.length) {
      out += '"<redacted>';
      break;
    }
    const inner = text.slice(quote + 1, end);
    // A schema coordinate (`Query.customer`, `IdentifierInput.value`) where graphql-js names the field an argument is
    // unknown on or a required input field that is missing; elsewhere a capitalised dotted name is the caller's (a CRM
    // id `ACME.X12` as an input field was echoed; a regression probe).
    const isCoordinate = (/ on field $/.test(out.slice(-10)) || text.startsWith(' of required type ', end + 1)) && COORDINATE.test(inner);
    const named = !/\b(?:value:?|found) $/i.test(out.slice(-8)) && (isCoordinate || KEEP_QUOTED.test(inner)) && !containsIdentifier(inner);
    out += named ? `"${inner}"` : '"<redacted>"';
    i = end + 1;
  }
  const redacted = out.replace(/(found|value:|got invalid value) (?!")[^;]*?(;|$| at )/g, '$1 <redacted>$2').slice(0, 400);
  return containsIdentifier(asChecked(redacted)) ? WITHHELD : redacted;
}

/**
 * What of an answer the last check of redactValues reads: the names it keeps, without their quotes; every dropped value
 * as a break between words; graphql-js' `at "<path>"` without its `at`. Read as answered, `"<redacted>" at
 * "input.channel"` spelled an address (`at` for `@`), a raw value dropped as `<redacted>` a word, and every message about
 * a variable's enum value, nested field or non-string date was withheld whole (probes).
 */
function asChecked(answer: string): string {
  return answer
    // Only after a dropped value, where graphql-js writes it: elsewhere `jane.doe at "example.org"` is a spelled address.
    .replace(/(<redacted>"?) at "(?!<redacted>)([^"]*)"/g, `$1${VALUE_BREAK}$2`)
    .replace(/"?<redacted>"?/g, VALUE_BREAK)
    .replaceAll('"', ' ');
}

/**
 * Stands for a dropped value in what redactValues checks last: a letter, which ends a run of digits, as a word of its
 * own with no punctuation around it, which would read as a spelled-out `at` or `dot`.
 */
const VALUE_BREAK = ' Q ';
