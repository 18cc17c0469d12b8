import { ServiceUnavailableError } from '../errors.js';
import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';
import type { PiiField } from '../customers/customer-types.js';
import type { DataSubjectExportRecord } from '../privacy-requests/dsar-types.js';

export const dsarResolvers: Resolvers = {
  Query: {
    dataSubjectAccess: (_root, { customerId, from, to }, ctx) =>
      ctx.services.dsar.export(customerId, { from, to }, actorFrom(ctx), 'graphql'),
  },
  // Read from Redis: null when Redis was down, and then an error at this path says so (the rest of the export stands).
  DataSubjectExport: {
    supportSessions: (record) => record.supportSessions ?? redisUnavailable('live support sessions'),
    piiAccessGrants: (record) => record.piiAccessGrants ?? redisUnavailable('PII access grants'),
    // An attribute whose stored ciphertext does not decrypt: null with an error at its path, the rest standing.
    displayName: (record) => readable(record, 'DISPLAY_NAME', record.displayName),
    email: (record) => readable(record, 'EMAIL', record.email),
    phone: (record) => readable(record, 'PHONE', record.phone),
  },
  Mutation: {
    eraseCustomer: (_root, { customerId, requestId, reason }, ctx) =>
      ctx.services.erasure.erase(customerId, requestId, reason, actorFrom(ctx)),
  },
};

function readable(record: DataSubjectExportRecord, field: PiiField, value: string | null): string | null {
  if (record.unreadable.includes(field)) throw new Error(`the stored ${field} of the customer does not decrypt (altered in the store)`);
  return value;
}

function redisUnavailable(what: string): never {
  throw new ServiceUnavailableError('redis', `The ${what} held in Redis could not be read; repeat the export for them`);
}
