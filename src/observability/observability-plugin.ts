import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestContext } from '../context.js';
import { containsRecordId } from '../identity/customer-id.js';
import { isRecordableName } from '../identity/free-text-guard.js';
import type { Metrics } from './metrics.js';
import { SCREENS_MS, type NameScreen } from './name-screen.js';

/**
 * Operation names come from the caller's document: a metric label taken from
 * them as-is would let anyone grow the registry without bound, or spell a
 * phone number into a label. Names are kept up to a fixed number of distinct
 * values; the rest, and names that look like an identifier, share `other`.
 */
export class OperationLabels {
  private readonly known = new Set<string>();

  /** `screen`: names are screened for stored identifiers (a CRM id) before they become labels (see NameScreen). */
  constructor(
    private readonly maxDistinct = 200,
    private readonly screen?: NameScreen,
  ) {}

  /** `screensUntil`: when the request stops waiting for the name's screen (Date.now() ms); SCREENS_MS from now by default. */
  async labelFor(operationName: string | null | undefined, screensUntil = Date.now() + SCREENS_MS): Promise<string> {
    if (!operationName) return 'anonymous';
    // A known name passed the checks below when it was added: the common case costs one lookup.
    if (this.known.has(operationName)) return operationName;
    // A customer's (or a grant's...) id is no operation name: one label per person would be unbounded too.
    if (!isRecordableName(operationName, 64) || containsRecordId(operationName)) return 'other';
    if (this.known.size >= this.maxDistinct) return 'other';
    // The first response with a new name waits for its screen (one `find`), within the request's screening budget.
    if (this.screen && !(await this.screen.clear(operationName, Math.max(0, screensUntil - Date.now())))) return 'other';
    this.known.add(operationName);
    return operationName;
  }
}

/**
 * Per-operation request counts, latency and error codes, read after Apollo
 * resolved the operation (so the name is the document's, not a guess from the
 * body), and a Retry-After header on responses that carry RATE_LIMITED.
 */
export function createObservabilityPlugin(metrics: Metrics, labels = new OperationLabels()): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse(requestContext) {
          if (requestContext.contextValue.ran) requestContext.contextValue.ran.operationName = requestContext.operationName ?? null;
          // Latency is taken before the label: the first response with a new name waits for that name's screen.
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const operation = await labels.labelFor(requestContext.operationName, requestContext.contextValue.ran?.screensUntil);
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
