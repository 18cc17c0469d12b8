import type { Resolvers } from '../generated/graphql.js';
import { isPrefixedId } from '../identity/customer-id.js';

export const auditResolvers: Resolvers = {
  Query: {
    verifyAuditTrail: (_root, { customerId }, ctx) => ctx.services.auditTrail.verify(customerId),
  },
  Customer: {
    auditTrail: (customer, args, ctx) => ctx.services.auditTrail.page(customer.id, args),
  },
  AuditEvent: {
    // A malformed id is a miss, not an error: other subgraphs may hold stale keys.
    __resolveReference: (ref, ctx) => (isPrefixedId('aud', ref.id) ? ctx.loaders.auditEventById.load(ref.id) : null),
  },
};
