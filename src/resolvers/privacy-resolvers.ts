import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';

export const privacyResolvers: Resolvers = {
  Mutation: {
    requestPiiAccess: (_root, { input }, ctx) => ctx.services.grants.request(input, actorFrom(ctx)),
    approvePiiAccess: (_root, { grantId }, ctx) => ctx.services.grants.approve(grantId, actorFrom(ctx)),
  },
};
