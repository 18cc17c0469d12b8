import { CONSENT_HISTORY_SHOWN } from '../consent/consent-types.js';
import { assertCustomerId } from '../customers/customer-service.js';
import { resolvedIn } from '../customers/resolved-call.js';
import { listedIdentifiers } from '../customers/customer-types.js';
import { isCustomerId } from '../identity/customer-id.js';
import type { Resolvers } from '../generated/graphql.js';
import { actorFrom } from './request-actor.js';

export const customerResolvers: Resolvers = {
  Query: {
    customer: (_root, { id }, ctx) => {
      assertCustomerId(id, 'id');
      return ctx.loaders.customerById.load(id);
    },
    resolveCustomer: async (_root, { input }, ctx) => {
      const resolution = await ctx.services.customers.resolve(input, actorFrom(ctx));
      if (!resolution.customer) return resolution;
      return { ...resolution, customer: resolvedIn(resolution.customer, { channel: input.channel ?? null, interactionId: input.interactionId ?? null }) };
    },
  },
  Mutation: {
    registerCustomer: (_root, { input }, ctx) => ctx.services.customers.register(input, actorFrom(ctx)),
    linkIdentifier: (_root, { customerId, identifier }, ctx) =>
      ctx.services.customers.linkIdentifier(customerId, identifier, actorFrom(ctx)),
  },
  Customer: {
    // A representation with a malformed id is a miss, not an error: other subgraphs may hold stale keys.
    __resolveReference: (ref, ctx) => (isCustomerId(ref.id) ? ctx.loaders.customerById.load(ref.id) : null),
    // The everyday read: precomputed masks. The field policy swaps in the audited clear value when a grant allows it.
    displayName: (customer) => customer.masked.DISPLAY_NAME,
    email: (customer) => customer.masked.EMAIL,
    phone: (customer) => customer.masked.PHONE,
    // One per identifier, however many key versions it is filed under (the data-subject export lists every record).
    // An erased customer's personal fields are null (the contract), its identifiers too: erasure deleted them, and
    // `[]` read as "has none" (a probe).
    identifiers: async (customer, _args, ctx) =>
      customer.status === 'ERASED' ? null : listedIdentifiers(await ctx.loaders.identifiersByCustomer.load(customer.id), ctx.services.keyring.currentVersion),
    // Erasure ends all processing, whatever the last receipt allowed: an erased customer consents to nothing.
    // The receipts stay readable in consentHistory, as the record of what was consented and when.
    consent: (customer, _args, ctx) =>
      customer.status === 'ERASED' ? { customerId: customer.id, scopes: [], receipt: null } : ctx.loaders.consentStateByCustomer.load(customer.id),
    // The newest CONSENT_HISTORY_SHOWN receipts, in version order (the data-subject export lists every one): a chain
    // grows with every recordConsent, and 1,568 representations of one customer with 300 receipts made a 132 MB
    // answer from a 100 KB request (a probe).
    consentHistory: async (customer, _args, ctx) => (await ctx.loaders.consentHistoryByCustomer.load(customer.id)).slice(-CONSENT_HISTORY_SHOWN),
  },
};
