import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics served at /metrics. Labels carry schema names (root fields) and reasons, never ids, values or caller text. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'veil_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly operationDuration = new Histogram({
    name: 'veil_graphql_operation_duration_seconds',
    help: 'GraphQL request latency by the root field the operation selects (multiple, none)',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly policyOutcomes = new Counter({
    name: 'veil_policy_outcomes_total',
    help: 'Field policy outcomes that were not plain full reads: masked, withheld by reason, clear reads',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  readonly auditWriteFailures = new Counter({
    name: 'veil_audit_write_failures_total',
    help: 'Audit events that could not be written',
    registers: [this.registry],
  });
  readonly graphqlOperations = new Counter({
    name: 'veil_graphql_operations_total',
    help: 'GraphQL operations by the root field they select (multiple, none) and outcome (ok, or error when the response carries any error)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly graphqlErrors = new Counter({
    name: 'veil_graphql_errors_total',
    help: 'Errors in GraphQL responses by extensions.code (a fixed set, see src/http/graphql-errors.ts)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly rateLimitDecisions = new Counter({
    name: 'veil_rate_limit_decisions_total',
    help: 'Rate-limited operations: allowed, limited, unchecked (Redis unavailable, a fail-open call went ahead) or refused (Redis unavailable, a fail-closed call was refused)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'veil_store_errors_total',
    help: 'Errors talking to MongoDB or Redis: connection errors, failed heartbeats, stalled server monitors, failed commands, requests that found a store unreachable',
    labelNames: ['store', 'kind'] as const,
    registers: [this.registry],
  });

  constructor(options: { collectDefaults?: boolean } = {}) {
    if (options.collectDefaults ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'veil_' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
