import { createServer as createHttpServer, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled, ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { RequestContext } from './context.js';
import { createErrorFormatter } from './http/graphql-errors.js';
import { createRequestHandler } from './http/http-server.js';
import { createLoaders } from './loaders.js';
import type { Metrics } from './observability/metrics.js';
import { applyFieldGuards } from './policy/field-guard.js';
import { applyShieldToAllFields, applyShieldToRootFields } from './policy/shield-rules.js';
import { resolvers } from './resolvers/index.js';
import { loadTypeDefs } from './schema-loader.js';
import { describeError, type Services } from './services.js';

export type PolicyEngine = 'guards' | 'shield-everywhere' | 'off';

export interface SubgraphDeps {
  services: Services;
  verifier: TokenVerifier;
  logger: Logger;
  metrics: Metrics;
  /** 'guards' in production. 'shield-everywhere' and 'off' exist for tests and the benchmark only. */
  policyEngine?: PolicyEngine;
}

/** The subgraph schema with the field policy applied. Pure: no I/O. */
export function buildPolicySchema(engine: PolicyEngine, metrics?: Metrics): GraphQLSchema {
  const schema = buildSubgraphSchema({ typeDefs: loadTypeDefs(), resolvers: resolvers as GraphQLResolverMap<unknown> });
  if (engine === 'off') return schema;
  if (engine === 'shield-everywhere') return applyShieldToAllFields(schema);
  const guarded = applyShieldToRootFields(schema);
  return applyFieldGuards(guarded, {
    skipTypes: ['Query', 'Mutation'],
    onDecision: metrics
      ? (_coordinate, decision) => {
          if (decision.outcome === 'full') return;
          metrics.policyOutcomes.inc({ outcome: decision.outcome, reason: decision.outcome === 'withheld' ? decision.reason : '' });
        }
      : undefined,
  });
}

export interface Subgraph {
  apollo: ApolloServer<RequestContext>;
  httpServer: Server;
  listen(port: number, host?: string): Promise<number>;
  stop(): Promise<void>;
}

export async function createSubgraph(deps: SubgraphDeps): Promise<Subgraph> {
  const { services, logger, metrics } = deps;
  const config = services.config;
  const engine = deps.policyEngine ?? 'guards';
  if (engine !== 'guards' && config.env === 'production') throw new Error('the field policy cannot be switched off in production');

  const apollo = new ApolloServer<RequestContext>({
    schema: buildPolicySchema(engine, metrics),
    introspection: config.introspection,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // main.ts owns shutdown: Apollo's own signal handlers would race it and re-raise the signal.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter((error) => {
      logger.error({ err: describeError(error) }, 'unexpected error in a resolver');
    }),
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      // Every field would get a cache-control hook (measured 2.5x on 100 entities); no router cache relies on hints here.
      ApolloServerPluginCacheControlDisabled(),
    ],
  });
  await apollo.start();

  const handler = createRequestHandler({
    apollo,
    verifier: deps.verifier,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    buildContext: (caller, requestId, log) => ({
      requestId,
      caller,
      services,
      loaders: createLoaders(services, caller, requestId),
      log,
    }),
    checkReadiness: () => checkReadiness(services),
    renderMetrics: () => metrics.render(),
    onResponse: ({ route, status, seconds, operationName }) => {
      metrics.httpRequests.inc({ route: route === '/graphql' || route.startsWith('/health') || route === '/metrics' ? route : 'other', status: String(status) });
      if (route === '/graphql') metrics.operationDuration.observe({ operation: operationName ?? 'anonymous' }, seconds);
    },
  });
  const httpServer = createHttpServer((req, res) => void handler(req, res));
  httpServer.keepAliveTimeout = 65_000;

  return {
    apollo,
    httpServer,
    listen: (port, host = '0.0.0.0') =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          const address = httpServer.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    stop: async () => {
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeIdleConnections();
      });
      await apollo.stop();
    },
  };
}

async function checkReadiness(services: Services): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'down'> }> {
  const withTimeout = <T>(p: Promise<T>) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 1500))]);
  const [mongo, redis] = await Promise.allSettled([
    withTimeout(services.db.command({ ping: 1 })),
    withTimeout(services.redis.ping()),
  ]);
  const checks = { mongodb: mongo.status === 'fulfilled' ? 'ok' : 'down', redis: redis.status === 'fulfilled' ? 'ok' : 'down' } as const;
  return { ready: checks.mongodb === 'ok' && checks.redis === 'ok', checks };
}
