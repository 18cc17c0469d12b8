import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';

export const dsarResolvers: Resolvers = {
  Query: {
    dataSubjectAccess: (_root, { customerId, from, to }, ctx) =>
      ctx.services.dsar.export(customerId, { from, to }, actorFrom(ctx), 'graphql'),
  },
  Mutation: {
    eraseCustomer: (_root, { customerId, requestId, reason }, ctx) =>
      ctx.services.erasure.erase(customerId, requestId, reason, actorFrom(ctx)),
  },
};
