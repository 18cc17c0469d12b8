import { ServiceUnavailableError } from '../errors.js';
import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';

export const dsarResolvers: Resolvers = {
  Query: {
    dataSubjectAccess: (_root, { customerId, from, to }, ctx) =>
      ctx.services.dsar.export(customerId, { from, to }, actorFrom(ctx), 'graphql'),
  },
  // Read from Redis: null when Redis was down, and then an error at this path says so (the rest of the export stands).
  DataSubjectExport: {
    supportSessions: (record) => record.supportSessions ?? redisUnavailable('live support sessions'),
    piiAccessGrants: (record) => record.piiAccessGrants ?? redisUnavailable('PII access grants'),
  },
  Mutation: {
    eraseCustomer: (_root, { customerId, requestId, reason }, ctx) =>
      ctx.services.erasure.erase(customerId, requestId, reason, actorFrom(ctx)),
  },
};

function redisUnavailable(what: string): never {
  throw new ServiceUnavailableError('redis', `The ${what} held in Redis could not be read; repeat the export for them`);
}
