import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export interface RequestScope {
  requestId: string;
  /** Whether the caller chose the id (`x-request-id`), rather than this server generating it. */
  isCallerSupplied?: boolean;
  /** Ids the request carried before `withdrawRequestId` replaced them. */
  withdrawn?: Set<string>;
  /** The verified caller's `sub`, once the token is verified (CallerDocumentStore keys documents by it). */
  callerId?: string;
  /** Tests of text against identifiers the request itself brings (see noteHeldIdentifiers). */
  heldIdentifierScreens?: Array<(text: string) => boolean>;
  /** Log messages written once per request (see isFirstInRequest). */
  loggedOnce?: Set<string>;
}

/**
 * The request being served, for code that logs without a request's child
 * logger at hand (services built once per process, Apollo's error formatter):
 * the logger's mixin reads it, so every line written while serving a request
 * carries its requestId.
 */
const storage = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, run: () => T): T {
  return storage.run(scope, run);
}

export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}

/**
 * Runs `run` outside any request's scope: for process-wide events that a request's async context merely carries
 * (the MongoDB driver's monitor and ioredis inherit the scope of the request that was running when they set up a
 * connection or a check): a store's recovery was logged with the id of a request that had ended long before (a probe).
 */
export function outsideRequestScope<T>(run: () => T): T {
  return storage.exit(run);
}

/** From here on the request carries the caller's own `x-request-id`, screened (src/http/http-server.ts). */
export function adoptCallerRequestId(requestId: string): void {
  const scope = storage.getStore();
  if (!scope) return;
  scope.requestId = requestId;
  scope.isCallerSupplied = true;
}

/** The caller's own `x-request-id` of the request being served, if it sent one that is still in use. */
export function callerRequestId(): string | null {
  const scope = storage.getStore();
  return scope?.isCallerSupplied ? scope.requestId : null;
}

/**
 * Replaces the caller's `x-request-id` with a generated one for the rest of the request: from here on log lines
 * carry the new id, and audit events written with the old one record the new one (`recordableRequestId`). For an id
 * found to name an identifier the request holds (a CRM id sent as the request id was kept in the audit trail and the
 * logs; a probe). The caller still gets its own id back in the response header, which it sent.
 */
export function withdrawRequestId(): void {
  const scope = storage.getStore();
  if (!scope?.isCallerSupplied) return;
  (scope.withdrawn ??= new Set()).add(scope.requestId);
  scope.requestId = randomUUID();
  scope.isCallerSupplied = false;
}

/** The request id to record for one a service was handed: the replacement when it was withdrawn. */
export function recordableRequestId(requestId: string): string {
  const scope = storage.getStore();
  return scope?.withdrawn?.has(requestId) ? scope.requestId : requestId;
}

/**
 * Identifiers the request itself brings (being registered, linked or resolved) are not stored yet, so the stored-
 * identifier screens cannot find them: an operation name that spells one is then not recorded (a probe's unmatched
 * lookup of `kw5leak.doe@example.org` logged the operation name `ResolveKw5leak_doe_example_org`).
 */
export function noteHeldIdentifiers(names: (text: string) => boolean): void {
  const scope = storage.getStore();
  if (scope) (scope.heldIdentifierScreens ??= []).push(names);
}

/** Whether text names an identifier the request being served brought (noteHeldIdentifiers). */
export function namesHeldIdentifier(text: string): boolean {
  return storage.getStore()?.heldIdentifierScreens?.some((names) => names(text)) ?? false;
}

/**
 * True the first time a request asks about `what`, false after (and true outside a request): for lines that one
 * request could otherwise repeat once per alias (a spent rate-limit budget wrote 88 warn lines for 3 requests; a probe).
 */
export function isFirstInRequest(what: string): boolean {
  const scope = storage.getStore();
  if (!scope) return true;
  if (scope.loggedOnce?.has(what)) return false;
  (scope.loggedOnce ??= new Set()).add(what);
  return true;
}
