import { canonicalise } from '../audit/audit-chain.js';
import type { Resolvers } from '../generated/graphql.js';
import { isPrefixedId } from '../identity/customer-id.js';
import { MAX_AUDIT_TRAILS_PER_REQUEST, OperationLimitError } from '../hardening/operation-limits.js';
import type { RequestContext } from '../context.js';

/** What `details` reads when the stored details cannot be written as JSON. */
const UNREADABLE_DETAILS = '{"unreadable":"the stored details hold a value no event is written with; verifyAuditTrail reports the event"}';

/**
 * The audit trail pages read so far, per request (the context object is per request), by customer and arguments:
 * the same page asked for again (a router's representations repeat one customer) is read once and not counted
 * again. Twelve representations of one customer were refused as "more customers than the limit" (a probe).
 */
const auditTrailsRead = new WeakMap<RequestContext, Map<string, ReturnType<RequestContext['services']['auditTrail']['page']>>>();

export const auditResolvers: Resolvers = {
  Query: {
    verifyAuditTrail: (_root, { customerId }, ctx) => ctx.services.auditTrail.verify(customerId),
  },
  Customer: {
    auditTrail: (customer, args, ctx, info) => {
      let pages = auditTrailsRead.get(ctx);
      if (!pages) auditTrailsRead.set(ctx, (pages = new Map()));
      // Within a query only: a mutation's fields run one after another, and a page read before one of them wrote an
      // event was answered again, stale, after it (a regression probe).
      const reuses = info.operation.operation === 'query';
      const key = JSON.stringify([customer.id, args.first ?? null, args.after ?? null, args.from ?? null, args.to ?? null, reuses ? null : pages.size]);
      const known = pages.get(key);
      if (known) return known;
      if (pages.size >= MAX_AUDIT_TRAILS_PER_REQUEST) throw new OperationLimitError('auditTrails', MAX_AUDIT_TRAILS_PER_REQUEST, null);
      const page = ctx.services.auditTrail.page(customer.id, args);
      pages.set(key, page);
      return page;
    },
  },
  AuditEvent: {
    // A malformed id is a miss, not an error: other subgraphs may hold stale keys.
    __resolveReference: (ref, ctx) => (isPrefixedId('aud', ref.id) ? ctx.loaders.auditEventById.load(ref.id) : null),
    // Readable in GraphQL too, not only in the export's download: a reviewer saw a grant's approver but not its
    // requester, nor whether an erasure completed (a probe).
    details: (event) => {
      try {
        return canonicalise(event.details ?? {});
      } catch {
        // A value no event is written with (an invalid date: only tampering stores one) fails this event's text, not
        // the page or the export around it (a probe); verifyAuditTrail reports the event as broken.
        return UNREADABLE_DETAILS;
      }
    },
  },
};
