import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { Logger } from 'pino';
import type { Caller } from '../auth/caller.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import type { RequestContext } from '../context.js';
import { UnauthenticatedError } from '../errors.js';
import { isRecordableName, isSafeReference, isTraceId } from '../identity/free-text-guard.js';
import { checkParameters, graphqlParamsOfSearch, MAX_PARAMETER_DEPTH } from '../hardening/well-formed-text.js';
import { documentTooDeep, MAX_DOCUMENT_NESTING, OPERATION_LIMIT_CODE } from '../hardening/operation-limits.js';
import { SCREENS_MS, settleWithin, type NameScreen } from '../observability/name-screen.js';
import { adoptCallerRequestId, currentRequestScope, namesHeldIdentifier, runInRequestScope, type RequestScope } from '../observability/request-scope.js';

export interface HttpRoutesDeps {
  apollo: ApolloServer<RequestContext>;
  verifier: TokenVerifier;
  logger: Logger;
  maxBodyBytes: number;
  buildContext: (caller: Caller, requestId: string, log: Logger) => RequestContext;
  checkReadiness: () => Promise<{ ready: boolean; checks: Record<string, 'ok' | 'down'> }>;
  renderMetrics: () => Promise<{ contentType: string; body: string }>;
  onResponse?: (info: { route: string; status: number; seconds: number; operationName: string | null }) => void;
  extraRoutes?: Record<string, (req: IncomingMessage, res: ServerResponse, caller: Caller, requestId: string) => Promise<void>>;
  /** Whether a caller's request id names an identifier (CustomerService.namesAnIdentifier); such an id is not used. */
  namesAnIdentifier?: (requestId: string) => Promise<boolean>;
  /** Screens the caller's request id and operation name against the identifiers a request sends (CustomerService.screenIdentifiersSent). */
  screenIdentifiersSent?: (params: unknown) => void;
  /** Screens operation names before the log line keeps one (the observability plugin's screen, for its labels). */
  operationNames?: NameScreen;
  /** When a GraphQL request still running is answered 503 (RESPONSE_DEADLINE_MS). */
  responseDeadlineMs?: number;
  /** MAX_TOKENS: a document over it is refused by Apollo's parse, and not parsed for its nesting first. */
  maxTokens?: number;
}

/**
 * A GraphQL request still running after this is answered 503 SERVICE_UNAVAILABLE. The stores' own timeouts answer
 * every outage well within it; this is for an operation that never ends: the MongoDB driver (6.22) has no per-
 * operation deadline, and one whose connection died under it waited for good (a probe restarting MongoDB under load
 * had a clear read hang for over 300 s). Its work goes on, and is dropped, when it ends.
 */
export const RESPONSE_DEADLINE_MS = 60_000;

class BodyTooLargeError extends Error {}
class BodyUnreadableError extends Error {}
/** A JSON body declared in a charset other than UTF-8 (RFC 8259: JSON exchanged between systems is UTF-8). */
class BodyCharsetError extends Error {}
/** A JSON body whose bytes are not UTF-8. */
class BodyEncodingError extends Error {}

/** Fatal: a byte sequence that is not UTF-8 throws instead of becoming U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The whole HTTP surface: /graphql, /health/live, /health/ready, /metrics, and any extra authenticated routes. */
export function createRequestHandler(deps: HttpRoutesDeps) {
  return (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const incomingId = req.headers['x-request-id'];
    // Kept in logs and audit events: a caller's id that spells a phone number is replaced, like a malformed one.
    const offered = typeof incomingId === 'string' && REQUEST_ID.test(incomingId) && isSafeReference(incomingId) ? incomingId : null;
    // A generated id until the caller's is screened (adoptRequestId): lines before that carry the generated one.
    return runInRequestScope({ requestId: randomUUID() }, () => handleRequest(deps, req, res, offered));
  };
}

/**
 * The request id from here on: the caller's, once it is known to name no identifier; else the generated one. Only
 * for authenticated callers (an unauthenticated one could otherwise make the server query its store at will). The
 * response header echoes the caller's own id either way, so that it tells nothing about what the id names.
 */
async function adoptRequestId(deps: HttpRoutesDeps, offered: string | null, log: Logger, screensUntil: number): Promise<string> {
  const scope = currentRequestScope() as RequestScope;
  if (offered === null) return scope.requestId;
  // What gateways and tracers send (a UUID, a W3C traceparent) is taken as it is: screening it cost every traced
  // request a read of the whole `identifiers` collection on FerretDB, which scans for `$in` (70 ms at 2,000
  // identifiers, 1.9 s at 60,000; a probe).
  const screen = deps.namesAnIdentifier;
  let isUsable = screen === undefined || isTraceId(offered);
  if (screen !== undefined && !isUsable) {
    // Bounded: with MongoDB down or hung the screen waited for server selection (3 s) on every request that sent an
    // id, SDL fetches included (a probe). Unanswered in time, the generated id is used and the request goes on.
    const verdict = await settleWithin(screen(offered).then((names) => !names), Math.max(0, screensUntil - Date.now()));
    if (verdict === true) isUsable = true;
    else if (verdict !== false) log.warn({ outcome: verdict }, 'x-request-id could not be screened for identifiers in time; a generated id is used');
  }
  if (isUsable) adoptCallerRequestId(offered);
  return scope.requestId;
}

/** The longest operation name a log line keeps. */
const OPERATION_NAME_MAX_LENGTH = 100;

/**
 * Whether an operation name goes on to the log line's screen: one that passes isRecordableName, or one the name screen
 * has a verdict on, whichever the verdict (it passed isRecordableName when it was screened), which the screen then
 * applies. One lookup and the same path for both verdicts, so that answers take as long for a name that is a stored
 * CRM id as for one that names nobody (a name known to name someone skipped the shape check, one known to name
 * nobody went on to the screen; both differences could be timed, 65 and 15 µs; regression probes).
 */
function isRecordableOperationName(deps: HttpRoutesDeps, name: unknown): name is string {
  const verdict = typeof name === 'string' ? deps.operationNames?.knownVerdict(name) : undefined;
  return verdict !== undefined || isRecordableName(name, OPERATION_NAME_MAX_LENGTH);
}

async function handleRequest(deps: HttpRoutesDeps, req: IncomingMessage, res: ServerResponse, offered: string | null): Promise<void> {
  const started = process.hrtime.bigint();
  const screensUntil = Date.now() + SCREENS_MS;
  res.setHeader('x-request-id', offered ?? (currentRequestScope() as RequestScope).requestId);
  // Every body is JSON or Prometheus text: no browser may sniff it into something it can run.
  res.setHeader('x-content-type-options', 'nosniff');
  // Answers can carry clear personal data (an audited read, an export), over GET too: no cache may keep any of them.
  res.setHeader('cache-control', 'no-store');
  // Not bound to a child logger: the logger's mixin writes the request's current id (see withdrawRequestId).
  const log = deps.logger;
  // A request target URL cannot read (`//`, `/\`) threw here, outside the try, and the rejection ended the process:
  // one unauthenticated request stopped the server (a probe).
  const url = URL.canParse(req.url ?? '/', 'http://localhost') ? new URL(req.url ?? '/', 'http://localhost') : null;
  let route = url?.pathname ?? 'unknown';
  let operationName: string | null = null;
  try {
    if (url === null) return sendError(res, 400, 'BAD_REQUEST', 'The request target cannot be read');
    const isOperational = url.pathname === '/health/live' || url.pathname === '/health/ready' || url.pathname === '/metrics';
    if (isOperational && req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', 'Use GET or HEAD');
    }
    if (url.pathname === '/health/live') return sendJson(res, 200, { status: 'ok' });
    if (url.pathname === '/health/ready') {
      const readiness = await deps.checkReadiness();
      return sendJson(res, readiness.ready ? 200 : 503, { status: readiness.ready ? 'ready' : 'not ready', checks: readiness.checks });
    }
    if (url.pathname === '/metrics') {
      const metrics = await deps.renderMetrics();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(metrics.body);
      return;
    }
    const extra = deps.extraRoutes?.[url.pathname];
    if (url.pathname !== '/graphql' && !extra) {
      route = 'unknown';
      return sendError(res, 404, 'NOT_FOUND', 'No such route: use /graphql');
    }
    const allowed = extra ? ['GET'] : ['GET', 'POST'];
    if (!allowed.includes(req.method ?? '')) {
      res.setHeader('allow', allowed.join(', '));
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', `Use ${allowed.join(' or ')}`);
    }
    let caller: Caller;
    try {
      // Node keeps the first of repeated Authorization headers and drops the rest: credentials that disagree are refused.
      if (countHeader(req, 'authorization') > 1) throw new UnauthenticatedError('Send one Authorization header', 'invalid_request');
      caller = await deps.verifier.verifyAuthorization(req.headers.authorization);
    } catch (error) {
      if (!(error instanceof UnauthenticatedError)) throw error;
      log.info({ route, reason: error.message }, 'unauthenticated request');
      return sendJson(res, 401, { errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED' } }] }, { 'www-authenticate': bearerChallenge(error) });
    }
    (currentRequestScope() as RequestScope).callerId = caller.id;
    const requestId = await adoptRequestId(deps, offered, log, screensUntil);
    if (extra) return await extra(req, res, caller, requestId);

    // A GET's parameters must be UTF-8 too: URLSearchParams reads `%E9` (Latin-1 `é`) as U+FFFD without a word.
    if (req.method === 'GET' && !isUtf8Query(url.search)) {
      return sendError(res, 400, 'BAD_REQUEST', "The request's query string is not percent-encoded UTF-8");
    }
    const body = req.method === 'POST' ? await readJsonBody(req, deps.maxBodyBytes) : undefined;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const name = (body as { operationName?: unknown }).operationName;
      // Logged and counted: only a well-formed GraphQL name that spells no phone number, never whatever text a caller put there.
      operationName = isRecordableOperationName(deps, name) ? name : null;
    }
    const params = req.method === 'POST' ? body : graphqlParamsOfSearch(url.searchParams);
    // Before anything can refuse the request: a request id or operation name that spells an identifier it sends is not kept.
    deps.screenIdentifiersSent?.(params);
    // Refused before Apollo sees it: a lone surrogate becomes U+FFFD in every store, so what was hashed would not be
    // what was kept; and no input of the schema nests deeper than a few levels.
    const refused = checkParameters(params);
    if (refused) {
      const message =
        refused.problem === 'ill-formed'
          ? `Text in the request's ${refused.parameter} is not valid Unicode (an unpaired UTF-16 surrogate)`
          : `The request's ${refused.parameter} nest deeper than ${MAX_PARAMETER_DEPTH} levels`;
      return sendJson(res, 400, { errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
    }
    const query = (params as { query?: unknown } | null | undefined)?.query;
    const tooDeep = typeof query === 'string' ? documentTooDeep(query, deps.maxTokens) : null;
    if (tooDeep !== null) {
      const message =
        tooDeep === 'fragments'
          ? `The document defines more than ${MAX_DOCUMENT_NESTING} named fragments`
          : `The document nests braces, brackets or parentheses deeper than ${MAX_DOCUMENT_NESTING} levels, fragments spelled out in place; send a flatter one`;
      return sendJson(res, 400, { errors: [{ message, extensions: { code: OPERATION_LIMIT_CODE, limit: 'depth', maximum: MAX_DOCUMENT_NESTING } }] });
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const ran: NonNullable<RequestContext['ran']> = { operationName: null };
    const executing = deps.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
      context: async () => ({ ...deps.buildContext(caller, requestId, log), ran }),
    });
    const deadlineMs = deps.responseDeadlineMs ?? RESPONSE_DEADLINE_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), deadlineMs)));
    const response = await Promise.race([executing, late]).finally(() => clearTimeout(timer));
    if (response === null) {
      executing.catch(() => undefined);
      log.warn({ route, deadlineSeconds: deadlineMs / 1000 }, 'request still running at its deadline: answered 503 (a store may be stalled)');
      const message = `The request did not finish within ${deadlineMs / 1000} s (a store may be stalled); try again`;
      return sendJson(res, 503, { errors: [{ message, extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
    }
    // Usually the name the body gave, already checked above.
    if (ran.operationName !== null && ran.operationName !== operationName) operationName = isRecordableOperationName(deps, ran.operationName) ? ran.operationName : null;
    // Apollo's own cache headers (a persisted-query miss sends `private, no-cache, must-revalidate`) do not replace no-store.
    for (const [key, value] of response.headers) if (key.toLowerCase() !== 'cache-control') res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return sendJson(res, 413, { errors: [{ message: `Request body exceeds ${deps.maxBodyBytes} bytes`, extensions: { code: 'BAD_REQUEST' } }] });
    }
    if (error instanceof BodyUnreadableError) {
      log.info({ route }, 'request body could not be read');
      return sendJson(res, 400, { errors: [{ message: 'The request body could not be read (malformed chunked encoding, or the connection closed early)', extensions: { code: 'BAD_REQUEST' } }] });
    }
    if (error instanceof BodyCharsetError) {
      return sendJson(res, 415, { errors: [{ message: 'A JSON request body must be UTF-8 (charset=utf-8, or no charset)', extensions: { code: 'BAD_REQUEST' } }] });
    }
    if (error instanceof BodyEncodingError) {
      return sendJson(res, 400, { errors: [{ message: 'The request body is not valid UTF-8', extensions: { code: 'BAD_REQUEST' } }] });
    }
    if (error instanceof SyntaxError) {
      return sendJson(res, 400, { errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
    }
    log.error({ err: { type: error instanceof Error ? error.name : typeof error } }, 'request failed');
    if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    else res.end();
  } finally {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // A name that may name a customer (their CRM id) is not kept: the first request with a new name waits here, after
    // its response was sent, for the name's screen (one `find`, then remembered).
    // Nor one that spells an identifier the request brought itself, not stored yet (registered, linked, resolved).
    const recordable =
      operationName !== null && !namesHeldIdentifier(operationName) && (await (deps.operationNames?.clear(operationName, Math.max(0, screensUntil - Date.now())) ?? true))
        ? operationName
        : null;
    deps.onResponse?.({ route, status: res.statusCode, seconds, operationName: recordable });
    // Health probes and scrapes are frequent and say nothing about callers.
    if (route === '/graphql' || deps.extraRoutes?.[route]) {
      // Who made it (the token's `sub`, once verified): the README said log lines keep the caller, and none did, so an
      // operator could not tell who was being refused (a probe).
      const caller = currentRequestScope()?.callerId ?? null;
      log.info({ route, method: req.method, status: res.statusCode, ms: Math.round(seconds * 1000), operationName: recordable, caller }, 'request completed');
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  // Answered before the request's body was read (a 401, a 413, a 404): the connection closes after the answer. Kept
  // open, it waited for the rest of a body declared at 100 MB and sent a byte at a time, for 5 minutes and through a
  // graceful stop, at an anonymous caller's will (a probe).
  const closing = hasArrived(res.req) ? {} : { connection: 'close' };
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...closing, ...headers });
  res.end(text);
}

/**
 * Whether the whole request has been received: it has no body, or its body has been read to the end. (`complete` is
 * not set yet for a request without a body answered at once: a GET /health/live was taken for one still arriving.)
 */
export function hasArrived(request: IncomingMessage): boolean {
  const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
  return !hasBody || request.complete;
}

/**
 * `WWW-Authenticate` of a 401 (RFC 6750 §3): `Bearer`, and why when credentials came, so that an OAuth client can
 * tell "refresh the token" (`invalid_token`) from "fix the header" (`invalid_request`) without reading the body. The
 * description is one of the verifier's fixed messages (never the token), left out if it holds a `"` or `\`.
 */
function bearerChallenge(error: UnauthenticatedError): string {
  if (error.challenge === null) return 'Bearer';
  const description = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/.test(error.message) ? `, error_description="${error.message}"` : '';
  return `Bearer error="${error.challenge}"${description}`;
}

/** Reads at most `limit` bytes; a larger body is refused before it is parsed. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new BodyTooLargeError();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        req.resume();
        throw new BodyTooLargeError();
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw error;
    // The client's doing (a malformed chunk, a connection closed before the declared length): it was logged as a
    // server error and counted as a 500 (a probe).
    throw new BodyUnreadableError();
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length === 0) return undefined;
  // Apollo's CSRF prevention needs the content type; only JSON bodies are parsed: `application/json` or a `+json`
  // type, in any case (media types are case-insensitive; `APPLICATION/JSON` was refused, a probe).
  const [mediaTypeText = '', ...parameters] = (req.headers['content-type'] ?? '').split(';');
  const mediaType = mediaTypeText.trim().toLowerCase();
  if (mediaType !== 'application/json' && !mediaType.endsWith('+json')) return bytes.toString('utf8');
  // Bytes of another charset, or bytes that are not UTF-8 at all, were decoded as UTF-8 with U+FFFD in place of what
  // did not read, and stored so for good: `José Müller` sent as windows-1252 was kept as `Jos\uFFFD M\uFFFDller`
  // (a probe). Refused instead; nothing is guessed.
  if (!parameters.every(isUtf8CharsetParameter)) throw new BodyCharsetError();
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new BodyEncodingError();
  }
  return JSON.parse(text) as unknown;
}

/** A media-type parameter that is not `charset`, or `charset=utf-8` (any case, quoted or not; `utf8` as browsers write it). */
function isUtf8CharsetParameter(parameter: string): boolean {
  const separator = parameter.indexOf('=');
  const name = (separator < 0 ? parameter : parameter.slice(0, separator)).trim().toLowerCase();
  if (name !== 'charset') return true;
  const value = parameter.slice(separator + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  return value === 'utf-8' || value === 'utf8';
}

/** The parameters GraphQL over GET reads; others (a tracker's `utm=50%`) are not this server's to judge (a regression probe). */
const GRAPHQL_GET_PARAMETERS = new Set(['query', 'variables', 'operationName', 'extensions']);

/** Whether every GraphQL parameter of a query string decodes as percent-encoded UTF-8 (`+` is a space). */
export function isUtf8Query(search: string): boolean {
  const decode = (text: string): string | null => {
    try {
      return decodeURIComponent(text.replaceAll('+', ' '));
    } catch {
      return null;
    }
  };
  for (const piece of search.replace(/^\?/, '').split('&')) {
    const separator = piece.indexOf('=');
    const name = decode(separator < 0 ? piece : piece.slice(0, separator));
    if (name === null || !GRAPHQL_GET_PARAMETERS.has(name)) continue;
    if (separator >= 0 && decode(piece.slice(separator + 1)) === null) return false;
  }
  return true;
}

/**
 * An error answered outside GraphQL, in GraphQL's shape (`errors[].extensions.code`), as every other refusal on these
 * routes is: clients read one shape (a probe found `{"error": ...}` bodies on 404 and 405).
 */
function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}

function countHeader(req: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === name) count += 1;
  return count;
}
