import { hasScope } from '../auth/caller.js';
import { ForbiddenError } from '../errors.js';
import { isPrefixedId } from '../identity/customer-id.js';
import type { Resolvers } from '../generated/graphql.js';
import { CONSENT_HISTORY_READ } from '../policy/policy-table.js';
import { actorFrom } from './request-actor.js';

export const consentResolvers: Resolvers = {
  Mutation: {
    recordConsent: (_root, { input }, ctx) => ctx.services.consent.record(input, actorFrom(ctx)),
  },
  Consent: {
    // customer:read sees the receipt Customer.consent shows and no other: following `supersedes` through _entities
    // must not show it the history that Customer.consentHistory withholds from it, and an erased customer's
    // consent shows no receipt at all.
    __resolveReference: async (ref, ctx) => {
      // Like the other entities: an id that cannot be a receipt's (a number, an object, a query operator) is no receipt.
      if (!isPrefixedId('con', ref.id)) return null;
      const receipt = await ctx.loaders.consentById.load(ref.id);
      // `_entities` has refused callers outside ENTITY_REACH; of the rest, those who read consentHistory get any receipt.
      if (CONSENT_HISTORY_READ.some((scope) => hasScope(ctx.caller, scope))) return receipt;
      // Any other id is withheld alike, whether a receipt has it or not: a null for an unknown id beside FORBIDDEN for
      // an earlier receipt told a customer:read caller which ids were receipts, superseded ones (a probe).
      const [customer, state] = receipt
        ? await Promise.all([ctx.loaders.customerById.load(receipt.customerId), ctx.loaders.consentStateByCustomer.load(receipt.customerId)])
        : [null, null];
      if (receipt && customer?.status === 'ACTIVE' && state?.receipt?.id === receipt.id) return receipt;
      throw new ForbiddenError(
        'MISSING_SCOPE',
        `Only the receipt Customer.consent shows is readable without ${CONSENT_HISTORY_READ.join(' or ')}; others need it, as Customer.consentHistory does`,
      );
    },
  },
};
