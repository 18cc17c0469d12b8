import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { AuditEventRecord } from '../audit/audit-types.js';
import type { PiiField } from '../customers/customer-types.js';
import { hasAnyScope, type Caller } from '../auth/caller.js';
import { BadUserInputError, ForbiddenError } from '../errors.js';
import { checkRateLimit, RATE_LIMITED_FIELDS, type RateLimitFieldOptions } from '../hardening/rate-limited-fields.js';
import type { RateLimiter } from '../hardening/rate-limiter.js';
import { classifyInfrastructureError } from '../http/infrastructure-errors.js';
import { lookupRule } from '../policy/policy-table.js';
import { DateTimeScalar } from '../resolvers/date-time-scalar.js';
import type { DsarService } from './dsar-service.js';
import type { DataSubjectExportRecord } from './dsar-types.js';

export const DSAR_EXPORT_PATH = '/dsar/export';

const STATUS_BY_CODE: Record<string, number> = {
  BAD_USER_INPUT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

/**
 * `GET /dsar/export?customerId=…&from=…&to=…`: the data-subject export as a
 * JSON download, for compliance tooling that does not speak GraphQL. The
 * HTTP handler has already authenticated the caller exactly as for /graphql;
 * the scope rule is the policy table's rule for Query.dataSubjectAccess, and
 * the export is the same service call (and the same DSAR_EXPORT event).
 */
export function createDsarExportRoute(dsar: DsarService, logger: Logger, rateLimiter: RateLimiter, onRateLimitOutcome?: RateLimitFieldOptions['onOutcome']) {
  const rule = lookupRule('Query', 'dataSubjectAccess');
  // The same budget as the GraphQL field: an export is an export, whichever door it comes through.
  const mode = RATE_LIMITED_FIELDS['Query.dataSubjectAccess'] ?? 'fail-closed';
  const scopes = rule?.kind === 'scoped' ? rule.scopes : [];

  return async (req: IncomingMessage, res: ServerResponse, caller: Caller, requestId: string): Promise<void> => {
    if (req.method !== 'GET') {
      req.resume();
      return sendJson(res, 405, { errors: [{ message: 'Use GET', extensions: { code: 'BAD_REQUEST' } }] }, { allow: 'GET' });
    }
    try {
      if (scopes.length === 0 || !hasAnyScope(caller, scopes)) {
        throw new ForbiddenError('MISSING_SCOPE', 'Not authorised to export: the dsar:process scope is required');
      }
      await checkRateLimit(rateLimiter, { callerId: caller.id, operation: 'dataSubjectAccess', mode, log: logger.child({ requestId }), onOutcome: onRateLimitOutcome });
      const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
      for (const name of ['customerId', 'from', 'to']) {
        if (params.getAll(name).length > 1) throw new BadUserInputError(`${name} must be given once`, { field: name });
      }
      const customerId = params.get('customerId') ?? '';
      const record = await dsar.export(
        customerId,
        { from: parseDateParam(params.get('from'), 'from'), to: parseDateParam(params.get('to'), 'to') },
        { caller, requestId },
        'json_download',
      );
      const body = JSON.stringify(toDsarDocument(record), null, 2);
      const day = record.generatedAt.toISOString().slice(0, 10);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'content-disposition': `attachment; filename="dsar-${record.customerId}-${day}.json"`,
        // Personal data in clear: no shared or browser cache may keep a copy.
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch (error) {
      if (error instanceof GraphQLError && typeof error.extensions['code'] === 'string' && error.extensions['code'] in STATUS_BY_CODE) {
        const code = error.extensions['code'];
        const retryAfter = error.extensions['retryAfterSeconds'];
        const headers: Record<string, string> = code === 'RATE_LIMITED' && typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {};
        return sendJson(res, STATUS_BY_CODE[code] as number, { errors: [{ message: error.message, extensions: error.extensions }] }, headers);
      }
      const store = classifyInfrastructureError(error);
      if (!store) throw error;
      logger.warn({ requestId, store }, 'data-subject export refused: a store is unavailable');
      return sendJson(res, 503, { errors: [{ message: `The ${store} store is unavailable; try again shortly`, extensions: { code: 'SERVICE_UNAVAILABLE', service: store } }] });
    }
  };
}

function parseDateParam(value: string | null, name: string): Date | null {
  if (value === null || value === '') return null;
  try {
    return DateTimeScalar.parseValue(value) as Date;
  } catch (error) {
    if (error instanceof GraphQLError) throw new BadUserInputError(`${name} must be an ISO-8601 date-time with a time zone`, { field: name });
    throw error;
  }
}

/** The download mirrors the GraphQL DataSubjectExport; audit events also carry their `details` (receipt versions, grant ids, counts). */
export function toDsarDocument(record: DataSubjectExportRecord): Record<string, unknown> {
  return {
    format: 'veil.dsar/v1',
    customerId: record.customerId,
    status: record.status,
    generatedAt: record.generatedAt,
    displayName: record.displayName,
    email: record.email,
    phone: record.phone,
    country: record.country,
    preferredLanguage: record.preferredLanguage,
    createdAt: record.createdAt,
    identifiers: record.identifiers.map((i) => ({
      kind: i.kind,
      hash: i.hash,
      keyVersion: i.keyVersion,
      linkedAt: i.linkedAt,
      priorHashes: i.priorHashes,
      ...(i.skeleton ? { skeletonHash: i.skeleton.hash } : {}),
    })),
    consentReceipts: record.consentReceipts.map((c) => ({
      id: c.id,
      customerId: c.customerId,
      version: c.version,
      scopes: c.scopes,
      grantedAt: c.grantedAt,
      expiresAt: c.expiresAt,
      source: c.source,
      supersedes: c.supersedes,
    })),
    supportRecords: record.supportRecords,
    auditEvents: record.auditEvents.map(toAuditEventDocument),
    anonymousLookups: record.anonymousLookups.map(toAuditEventDocument),
    // null when Redis could not be read; `incomplete` then names them.
    supportSessions: record.supportSessions?.map((s) => ({ sessionId: s.sessionId, channel: s.channel, startedBy: s.startedBy, startedAt: s.startedAt, expiresAt: s.expiresAt })) ?? null,
    // Field by field, as GraphQL has them: the stored record also holds its activation state and approval time.
    piiAccessGrants:
      record.piiAccessGrants?.map((g) => ({
        id: g.id,
        customerId: g.customerId,
        fields: g.fields,
        status: g.status,
        expiresAt: g.expiresAt,
        requestedBy: g.requestedBy,
        approvedBy: g.approvedBy,
        justification: g.justification,
      })) ?? null,
    // And attributes whose stored ciphertext does not decrypt (null above).
    incomplete: [
      ...(record.supportSessions ? [] : ['supportSessions']),
      ...(record.piiAccessGrants ? [] : ['piiAccessGrants']),
      ...record.unreadable.map((field) => EXPORT_FIELD_NAMES[field]),
    ],
    auditEventId: record.auditEventId,
  };
}

const EXPORT_FIELD_NAMES: Record<PiiField, string> = { DISPLAY_NAME: 'displayName', EMAIL: 'email', PHONE: 'phone' };

function toAuditEventDocument(e: AuditEventRecord): Record<string, unknown> {
  return {
    id: e.id,
    type: e.type,
    occurredAt: e.occurredAt,
    customerId: e.customerId,
    actor: e.actor,
    channel: e.channel,
    interactionId: e.interactionId,
    resolutionSource: e.resolutionSource,
    identifierHash: e.identifierHash,
    fields: e.fields,
    justification: e.justification,
    requestId: e.requestId,
    details: e.details,
    sequence: e.sequence,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
