import { readCustomerContext, readSessionContext } from '../context-snapshots/context-reader.js';
import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';

export const contextResolvers: Resolvers = {
  Query: {
    sessionContext: (_root, { token }, ctx) => readSessionContext(ctx, token),
  },
  Mutation: {
    recordSupportActivity: (_root, { input }, ctx) => ctx.services.supportRecords.record(input),
    startSupportSession: (_root, { customerId, channel, ttlSeconds }, ctx) =>
      ctx.services.sessions.start(customerId, channel, ttlSeconds, actorFrom(ctx)),
    endSupportSession: (_root, { token }, ctx) => ctx.services.sessions.end(token),
  },
  Customer: {
    context: (customer, _args, ctx) => readCustomerContext(ctx, customer),
  },
};
