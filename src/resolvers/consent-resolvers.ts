import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';

export const consentResolvers: Resolvers = {
  Mutation: {
    recordConsent: (_root, { input }, ctx) => ctx.services.consent.record(input, actorFrom(ctx)),
  },
  Consent: {
    __resolveReference: (ref, ctx) => ctx.loaders.consentById.load(ref.id),
  },
};
