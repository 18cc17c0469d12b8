import { hasScope } from '../auth/caller.js';
import { ForbiddenError } from '../errors.js';
import type { Resolvers } from '../generated/graphql.js';
import { CONSENT_HISTORY_READ } from '../policy/policy-table.js';
import { actorFrom } from './request-actor.js';

export const consentResolvers: Resolvers = {
  Mutation: {
    recordConsent: (_root, { input }, ctx) => ctx.services.consent.record(input, actorFrom(ctx)),
  },
  Consent: {
    // customer:read sees a customer's current receipt only: following `supersedes` through _entities
    // must not show it the history that Customer.consentHistory withholds from it.
    __resolveReference: async (ref, ctx) => {
      const receipt = await ctx.loaders.consentById.load(ref.id);
      // A caller with no Consent scope at all gets the receipt's fields withheld one by one, by the field policy.
      if (!receipt || !hasScope(ctx.caller, 'customer:read') || CONSENT_HISTORY_READ.some((scope) => hasScope(ctx.caller, scope))) return receipt;
      const state = await ctx.loaders.consentStateByCustomer.load(receipt.customerId);
      if (state.receipt?.id === receipt.id) return receipt;
      throw new ForbiddenError('MISSING_SCOPE', `An earlier consent receipt needs one of ${CONSENT_HISTORY_READ.join(', ')}, as Customer.consentHistory does`);
    },
  },
};
