import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled, ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import { checkRedisWrites, redisReplyCode } from './storage/redis.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { RequestContext } from './context.js';
import { createErrorFormatter } from './http/graphql-errors.js';
import { createRequestHandler, hasArrived } from './http/http-server.js';
import { createLoaders } from './loaders.js';
import { createDsarExportRoute, DSAR_EXPORT_PATH } from './privacy-requests/dsar-export-route.js';
import { createOperationLimits } from './hardening/operation-limits.js';
import { guardEntityBudget, guardEntityRepresentations } from './hardening/entity-representations.js';
import { applyRateLimits } from './hardening/rate-limited-fields.js';
import { createGetGuardPlugin } from './http/get-guard-plugin.js';
import { createObservabilityPlugin } from './observability/observability-plugin.js';
import { CallerDocumentStore } from './http/document-store.js';
import { NameScreen } from './observability/name-screen.js';
import type { Metrics } from './observability/metrics.js';
import { applyEntityReach } from './policy/entity-reach.js';
import { applyFieldGuards } from './policy/field-guard.js';
import type { DecisionObserver } from './policy/policy-decision.js';
import { FIELD_POLICY, type FieldRule } from './policy/policy-table.js';
import { applyRequiresScopes } from './policy/router-directives.js';
import { applyShieldToAllFields, applyShieldToRootFields, compileShieldRules } from './policy/shield-rules.js';
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
  /** How long a client has to send a whole request: REQUEST_TIMEOUT_MS (tests shorten it). */
  requestTimeoutMs?: number;
  /** When a GraphQL request still running is answered 503: RESPONSE_DEADLINE_MS (tests shorten it). */
  responseDeadlineMs?: number;
}

export interface PolicySchemaOptions {
  /** The SDL to build from; the schema/*.graphql files by default (tests add fields to prove the deny fallback). */
  typeDefs?: DocumentNode;
  /** The policy table; FIELD_POLICY by default. */
  table?: Record<string, Record<string, FieldRule>>;
  /** Tests only: sees every decision, root fields included. */
  onDecision?: DecisionObserver;
  /** Tests only: wrap open fields too, so onDecision sees them. */
  observeOpenFields?: boolean;
  /** `@requiresScopes` from the table in the SDL (default true); false for @apollo/gateway, which refuses a supergraph linking them. */
  routerDirectives?: boolean;
  /** SNAPSHOT_RECENT_ITEMS: how many items a context section lists at most, as `_entities` weighs them (50 by default). */
  snapshotRecentItems?: number;
}

/**
 * The subgraph schema with the field policy applied. Pure: no I/O. The SDL
 * carries `@requiresScopes` from the policy table (router-directives.ts) for
 * every engine, so `_service { sdl }` is the same whatever enforces it here.
 */
export function buildPolicySchema(engine: PolicyEngine, metrics?: Metrics, options: PolicySchemaOptions = {}): GraphQLSchema {
  const table = options.table ?? FIELD_POLICY;
  const sdl = options.typeDefs ?? loadTypeDefs();
  const typeDefs = options.routerDirectives === false ? sdl : applyRequiresScopes(sdl, table);
  // Rate limits sit beneath the policy (applied first, so the policy wraps them): a refused call is not counted.
  const schema = applyRateLimits(guardEntityRepresentations(buildSubgraphSchema({ typeDefs, resolvers: resolvers as GraphQLResolverMap<unknown> })), {
    onOutcome: metrics ? (operation, outcome) => metrics.rateLimitDecisions.inc({ operation, outcome }) : undefined,
  });
  // Outermost around `_entities`: a request over the budget is refused before any representation is checked.
  const budget = { contextItems: options.snapshotRecentItems };
  if (engine === 'off') return guardEntityBudget(schema, budget);
  guardEntityBudget(applyEntityReach(schema, table), budget);
  const countOutcome: DecisionObserver | undefined = metrics
    ? (_coordinate, decision) => {
        if (decision.outcome === 'full') return;
        metrics.policyOutcomes.inc({ outcome: decision.outcome, reason: decision.outcome === 'withheld' ? decision.reason : '' });
      }
    : undefined;
  const observers = [countOutcome, options.onDecision].filter((o): o is DecisionObserver => o !== undefined);
  const onDecision: DecisionObserver | undefined =
    observers.length <= 1 ? observers[0] : (coordinate, decision, ctx) => observers.forEach((observe) => observe(coordinate, decision, ctx));
  const rules = compileShieldRules(table, { onDecision });
  if (engine === 'shield-everywhere') return applyShieldToAllFields(schema, rules);
  const guarded = applyShieldToRootFields(schema, rules);
  return applyFieldGuards(guarded, { table, skipTypes: ['Query', 'Mutation'], onDecision, observeOpenFields: options.observeOpenFields });
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

  const limits = createOperationLimits(config);
  const operationNames = new NameScreen((name) => services.customers.namesAnIdentifier(name));
  services.customers.onIdentifierFiling(() => operationNames.forget());
  const apollo = new ApolloServer<RequestContext>({
    schema: buildPolicySchema(engine, metrics, { routerDirectives: config.policyRouterDirectives, snapshotRecentItems: config.snapshotRecentItems }),
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    introspection: config.introspection,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // No automatic persisted queries: their cache is one per process, shared by every caller, so a caller with no
    // scope learned from PERSISTED_QUERY_NOT_FOUND whether someone had sent a query (a lookup of a guessed email,
    // say), and the cache kept such a query's text, identifier literals included (a probe). Clients' APQ ends at the
    // router, which sends subgraphs whole queries unless told otherwise.
    persistedQueries: false,
    // Parsed documents are cached per caller, not per process (see CallerDocumentStore).
    documentStore: new CallerDocumentStore(),
    // main.ts owns shutdown: Apollo's own signal handlers would race it and re-raise the signal.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter(
      (error) => {
        logger.error({ err: describeError(error) }, 'unexpected error in a resolver');
      },
      { hideSuggestions: !config.introspection },
    ),
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      // Every field would get a cache-control hook (measured 2.5x on 100 entities); no router cache relies on hints here.
      ApolloServerPluginCacheControlDisabled(),
      createObservabilityPlugin(metrics),
      createGetGuardPlugin(),
    ],
  });
  await apollo.start();

  const redisWrites = watchRedisWrites(logger);
  const handler = createRequestHandler({
    apollo,
    verifier: deps.verifier,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    maxTokens: config.maxTokens,
    ...(deps.responseDeadlineMs === undefined ? {} : { responseDeadlineMs: deps.responseDeadlineMs }),
    buildContext: (caller, requestId, log) => ({
      requestId,
      caller,
      services,
      loaders: createLoaders(services, caller, requestId),
      log,
    }),
    checkReadiness: () => checkReadiness(services, redisWrites),
    namesAnIdentifier: (requestId) => services.customers.namesAnIdentifier(requestId),
    screenIdentifiersSent: (params) => services.customers.screenIdentifiersSent(params),
    operationNames,
    renderMetrics: () => metrics.render(),
    // Authenticated by the handler exactly like /graphql; the route checks the dataSubjectAccess scope rule itself.
    extraRoutes: {
      [DSAR_EXPORT_PATH]: createDsarExportRoute(services.dsar, logger, services.rateLimiter, (operation, outcome) => metrics.rateLimitDecisions.inc({ operation, outcome })),
    },
    // Latency by operation is observed by the observability plugin, once Apollo knows the operation.
    onResponse: ({ route, status }) => {
      metrics.httpRequests.inc({ route: route === '/graphql' || route.startsWith('/health') || route === '/metrics' || route === DSAR_EXPORT_PATH ? route : 'other', status: String(status) });
    },
  });
  // The handler answers every failure itself; should it still reject, the request fails, never the process.
  // A whole request (headers and a body of at most MAX_BODY_BYTES) arrives well within REQUEST_TIMEOUT_MS; Node's
  // default, 300 s, let a client trickling its body hold a connection, and a graceful stop, for 5 minutes (a probe).
  // Node looks for requests past their time every `connectionsCheckingInterval`, 30 s by default: a trickling client
  // got its 408 after 60 s, twice the limit (a probe). Looked for every second, it comes within a second of it.
  const requestTimeout = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const httpServer = createHttpServer({ requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(1_000, requestTimeout) }, (req, res) => {
    requestOn.set(req.socket, { req, res });
    if (stopping) res.setHeader('connection', 'close');
    res.once('close', () => {
      if (requestOn.get(req.socket)?.req === req) requestOn.delete(req.socket);
      // Stopping: a keep-alive connection whose answer this was is idle now, and nothing else will close it.
      if (stopping) setImmediate(() => httpServer.closeIdleConnections());
    });
    handler(req, res).catch((error: unknown) => {
      logger.error({ err: { type: error instanceof Error ? error.name : typeof error } }, 'request handler failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}');
      else res.destroy();
    });
  });
  httpServer.keepAliveTimeout = 65_000;
  httpServer.on('clientError', answerUnreadableRequest);
  // Every open connection and the request it is answering, for a graceful stop.
  const connections = new Set<Duplex>();
  const requestOn = new Map<Duplex, { req: IncomingMessage; res: ServerResponse }>();
  let stopping = false;
  httpServer.on('connection', (socket: Duplex) => {
    connections.add(socket);
    socket.once('close', () => {
      connections.delete(socket);
      requestOn.delete(socket);
    });
  });

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
      stopping = true;
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeIdleConnections();
        // Requests that have arrived whole are answered, and their connections closed after (a keep-alive client's
        // stayed open, and the stop waited for SHUTDOWN_GRACE_SECONDS and exited 1; a regression probe); a
        // connection still sending its request (headers or body, as slowly as it likes) is closed now: a client
        // trickling one held the stop the same way (a probe).
        for (const socket of connections) {
          const answering = requestOn.get(socket);
          if (answering === undefined || !hasArrived(answering.req)) socket.destroy();
          else if (!answering.res.headersSent) answering.res.setHeader('connection', 'close');
        }
      });
      await apollo.stop();
    },
  };
}

/** How long a client has to send a whole request (Node answers 408 after it, within the checking interval). */
const REQUEST_TIMEOUT_MS = 30_000;

/** How long each readiness check waits for its store. */
const READINESS_CHECK_MS = 800;

/**
 * Logs the write check of readiness turning down with a refusal (a read-only replica, out of memory, an ACL) and up
 * again, once per change: a Redis that answers PING but refuses writes logged nothing (a probe). Unreachable is the
 * store watch's to log (logStoreTransitions).
 */
function watchRedisWrites(logger: Logger): (outcome: PromiseSettledResult<unknown>) => void {
  let refusedWith: string | null = null;
  return (outcome) => {
    const code = outcome.status === 'rejected' ? redisReplyCode(outcome.reason) : null;
    if (code !== null && refusedWith === null) {
      refusedWith = code;
      logger.warn({ store: 'redis', variable: 'REDIS_URL', cause: code }, 'Redis refuses writes: readiness reports it down, and what writes to it answers SERVICE_UNAVAILABLE');
    } else if (outcome.status === 'fulfilled' && refusedWith !== null) {
      refusedWith = null;
      logger.warn({ store: 'redis', variable: 'REDIS_URL' }, 'Redis takes writes again');
    }
  };
}

async function checkReadiness(services: Services, onRedisWrite: (outcome: PromiseSettledResult<unknown>) => void): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'down'> }> {
  // Answered within Kubernetes' default probe timeout (1 s): with MongoDB down it took 1.5 s, and the kubelet saw a
  // timed-out probe instead of the 503 and its checks (a probe).
  const withTimeout = async <T>(p: Promise<T>) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READINESS_CHECK_MS)))]);
    } finally {
      clearTimeout(timer);
    }
  };
  const probes: Record<string, () => Promise<unknown>> = {
    mongodb: () => services.db.command({ ping: 1 }),
    // A write, not a PING: a Redis that answers but refuses writes cannot serve (checkRedisWrites).
    redis: () => checkRedisWrites(services.redis),
  };
  // A separate audit store (AUDIT_MONGODB_URL) is reported, but does not decide readiness: every instance shares it,
  // and taking them all out of rotation would stop the masked reads that never touch it. Without it, clear reads
  // and exports are refused per request (fail closed).
  if (services.auditDb !== services.db) probes['audit_mongodb'] = () => services.auditDb.command({ ping: 1 });
  const names = Object.keys(probes);
  const results = await Promise.allSettled(names.map((name) => withTimeout((probes[name] as () => Promise<unknown>)())));
  const checks: Record<string, 'ok' | 'down'> = {};
  names.forEach((name, i) => (checks[name] = results[i]?.status === 'fulfilled' ? 'ok' : 'down'));
  onRedisWrite(results[names.indexOf('redis')] as PromiseSettledResult<unknown>);
  return { ready: checks['mongodb'] === 'ok' && checks['redis'] === 'ok', checks };
}

/**
 * A request Node cannot parse (no request line, a header without a colon, headers over 16 KB) is answered here rather
 * than with Node's bare `400 Bad Request`, in the GraphQL error shape every other refusal has (a probe). The socket is
 * closed after it, as Node does.
 */
function answerUnreadableRequest(error: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node's own handler: nothing is written into a response already under way (a pipelined request's).
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || answering?.headersSent === true) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message = status === 431 ? 'Request headers are too large' : status === 408 ? 'The request took too long to arrive' : 'The request is not valid HTTP';
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
  socket.end(
    // The headers every other answer has (a probe found these without them); no x-request-id: no request was read.
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
  );
}
