import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestContext } from '../context.js';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import { rootFieldNames } from '../http/root-fields.js';
import type { Metrics } from './metrics.js';

/**
 * The metric label of an operation: the root field it selects (`resolveCustomer`, `_entities`), `multiple` when it
 * selects several, `none` when Apollo resolved no operation (a request it refused before). Never the operation's
 * name: that is the caller's text, and a name became its own label unless it was a stored CRM id, which any caller
 * with a token could read back from `/metrics` to test guesses (a probe). Root fields are the schema's names, a few
 * dozen at most, so the label set stays bounded without a cap that callers could fill. The operation name stays in the
 * request's log line, screened (src/http/http-server.ts).
 */
export function operationLabel(operation: OperationDefinitionNode | undefined, document: DocumentNode | undefined): string {
  if (!operation) return 'none';
  const fields = rootFieldNames(operation, document, 2);
  return fields.size === 1 ? ([...fields][0] as string) : fields.size === 0 ? 'none' : 'multiple';
}

/**
 * Per-operation request counts, latency and error codes, read after Apollo
 * resolved the operation (so the name is the document's, not a guess from the
 * body), and a Retry-After header on responses that carry RATE_LIMITED.
 */
export function createObservabilityPlugin(metrics: Metrics): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse(requestContext) {
          if (requestContext.contextValue.ran) requestContext.contextValue.ran.operationName = requestContext.operationName ?? null;
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const operation = operationLabel(requestContext.operation, requestContext.document);
          const body = requestContext.response.body;
          const errors = body.kind === 'single' ? (body.singleResult.errors ?? []) : [];
          let retryAfterSeconds = 0;
          const unreachable = new Set<string>();
          for (const error of errors) {
            const code = typeof error.extensions?.['code'] === 'string' ? error.extensions['code'] : 'UNKNOWN';
            metrics.graphqlErrors.inc({ code });
            const retryAfter = error.extensions?.['retryAfterSeconds'];
            if (code === 'RATE_LIMITED' && typeof retryAfter === 'number') retryAfterSeconds = Math.max(retryAfterSeconds, retryAfter);
            // Whether the error formatter classified a driver error or a service turned it into SERVICE_UNAVAILABLE
            // itself, the response names the store; an unwritable audit event has its own counter.
            const service = error.extensions?.['service'];
            if (code === 'SERVICE_UNAVAILABLE' && (service === 'mongodb' || service === 'redis')) unreachable.add(service);
          }
          // Once per request and store, however many fields failed.
          for (const store of unreachable) metrics.storeErrors.inc({ store, kind: 'request' });
          if (retryAfterSeconds > 0) requestContext.response.http.headers.set('retry-after', String(retryAfterSeconds));
          metrics.graphqlOperations.inc({ operation, outcome: errors.length > 0 ? 'error' : 'ok' });
          metrics.operationDuration.observe({ operation }, seconds);
        },
      };
    },
  };
}
