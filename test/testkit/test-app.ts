import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { CommandStartedEvent } from 'mongodb';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type ResolvedConfig } from '../../src/config.js';
import { devJwks, generateDevKeys, mintToken, type DevKeys, type TokenRequest } from '../../src/dev/dev-keys.js';
import { createLogger } from '../../src/observability/logger.js';
import type { PolicyEngine } from '../../src/server.js';
import { LogCapture } from './log-capture.js';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: {
    data?: T | null;
    errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
  };
}

export interface TestApp {
  app: App;
  url: string;
  baseUrl: string;
  keys: DevKeys;
  config: ResolvedConfig;
  /** Every MongoDB command the app sent, from the driver's command monitoring. */
  mongoCommands: CommandStartedEvent[];
  logs: LogCapture;
  token(scopes: readonly string[], sub?: string, extra?: Partial<TokenRequest>): Promise<string>;
  graphql<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
  /** Clears the recorded MongoDB commands (before the request you want to count). */
  resetCommands(): void;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  policyEngine?: PolicyEngine;
  keys?: DevKeys;
  /** Reuse another app's database and key prefix (a second process over the same data). */
  shareStoresWith?: TestApp;
  /** A MongoDB other than the shared one (for example from startPrivateServices(), for outage tests). */
  mongoUrl?: string;
  /** A Redis other than the shared one. */
  redisUrl?: string;
  /** When a pending MongoDB server check counts as stalled (the app's watchdog; 30 s by default). */
  mongoStalledCheckMs?: number;
  /** How long a client has to send a whole request (30 s by default). */
  requestTimeoutMs?: number;
  /** When a GraphQL request still running is answered 503 (60 s by default). */
  responseDeadlineMs?: number;
}

/**
 * The whole subgraph in this test process, on the real MongoDB-compatible and
 * Redis servers that global-setup started, with its own database and Redis key
 * prefix so test files do not see each other's data.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const keys = options.keys ?? options.shareStoresWith?.keys ?? (await generateDevKeys());
  const suffix = randomBytes(5).toString('hex');
  const base = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URL: options.mongoUrl ?? inject('mongoUrl'),
    REDIS_URL: options.redisUrl ?? inject('redisUrl'),
    MONGODB_DB: options.shareStoresWith?.config.mongodbDb ?? `veil_test_${suffix}`,
    REDIS_KEY_PREFIX: options.shareStoresWith?.config.redisKeyPrefix ?? `t${suffix}:`,
    AUTH_ISSUER: 'https://issuer.test/',
    AUTH_AUDIENCE: 'veil-test',
    IDENTITY_HMAC_KEYS: keys.identityHmacKeys,
    PII_MASTER_KEY: keys.piiMasterKey,
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const config = base as ResolvedConfig;
  const mongoCommands: CommandStartedEvent[] = [];
  const logs = new LogCapture();
  const app = await createApp({
    config,
    logger: createLogger(config.logLevel, logs.stream),
    jwks: devJwks(keys),
    policyEngine: options.policyEngine,
    mongoOptions: { monitorCommands: true },
    ...(options.mongoStalledCheckMs === undefined ? {} : { mongoStalledCheckMs: options.mongoStalledCheckMs }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.responseDeadlineMs === undefined ? {} : { responseDeadlineMs: options.responseDeadlineMs }),
    collectDefaultMetrics: false,
  });
  app.mongo.client.on('commandStarted', (event) => mongoCommands.push(event));
  const port = await app.subgraph.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${port}`;
  const url = `${baseUrl}/graphql`;

  return {
    app,
    url,
    baseUrl,
    keys,
    config,
    mongoCommands,
    logs,
    token: (scopes, sub = 'agent-test', extra = {}) =>
      mintToken(keys, { sub, scopes, issuer: config.authIssuer, audience: config.authAudience, ...extra }),
    graphql: async (token, query, variables, headers = {}) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: JSON.parse(text) as GraphQLResponse['body'] } as GraphQLResponse<never>;
    },
    resetCommands: () => {
      mongoCommands.length = 0;
    },
    stop: async () => {
      await app.stop();
    },
  };
}

/** The MongoDB `find` commands on one collection among the recorded ones. */
export function findsOn(commands: readonly CommandStartedEvent[], collection: string): CommandStartedEvent[] {
  return commands.filter((c) => c.commandName === 'find' && c.command['find'] === collection);
}
