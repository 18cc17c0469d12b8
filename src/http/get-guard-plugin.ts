import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, OperationTypeNode } from 'graphql';
import type { RequestContext } from '../context.js';
import { rootFieldNames } from './root-fields.js';

/**
 * Root fields whose arguments are secrets or raw identifiers: `resolveCustomer` takes an email address, phone number
 * or CRM id, `sessionContext` a support-session token. Over GET they travel in the URL, which proxies, routers and
 * load balancers write to their access logs (a probe), so they are served over POST only.
 */
export const POST_ONLY_ROOT_FIELDS: ReadonlySet<string> = new Set(['resolveCustomer', 'sessionContext']);

/**
 * Refuses a GET whose document selects one of POST_ONLY_ROOT_FIELDS, or defines a mutation, in any of its operations,
 * with HTTP 405, `Allow: POST` and `BAD_REQUEST`, before anything runs: what Apollo answers a mutation sent over GET. The value is in a URL by then; the refusal makes the
 * integration that sent it change before it goes live.
 */
export function createGetGuardPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart({ request }) {
      if (request.http?.method !== 'GET') return;
      return {
        async didResolveOperation({ document }) {
          // Every operation the document defines, not only the one it runs: an identifier spelt in another one is in the
          // URL all the same (a probe sent `query A { __typename } query B { resolveCustomer(...) }` running A).
          const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
          // A mutation beside the query it runs is refused as Apollo refuses the mutation run over GET: its arguments
          // (a registration's email, say) are in the URL all the same (a regression probe).
          if (operations.some((definition) => definition.operation === OperationTypeNode.MUTATION)) {
            throw new GraphQLError('Mutations must be sent with POST, also beside the operation a GET runs: their arguments would travel in the URL, which access logs keep', {
              extensions: { code: 'BAD_REQUEST', http: { status: 405, headers: new HeaderMap([['allow', 'POST']]) } },
            });
          }
          const selected = [...new Set(operations.flatMap((operation) => [...rootFieldNames(operation, document)]))].filter((field) => POST_ONLY_ROOT_FIELDS.has(field));
          if (selected.length === 0) return;
          throw new GraphQLError(`${selected.join(' and ')} must be sent with POST: over GET its argument would travel in the URL, which access logs keep`, {
            extensions: { code: 'BAD_REQUEST', http: { status: 405, headers: new HeaderMap([['allow', 'POST']]) } },
          });
        },
      };
    },
  };
}
