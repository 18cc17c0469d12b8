/**
 * What a front-end team runs in front of this subgraph, in the test process:
 * composition with @apollo/composition, then @apollo/gateway serving the
 * supergraph through Apollo Server, forwarding each caller's Authorization
 * header to every subgraph it calls.
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import type { DocumentNode } from 'graphql';
import type { GraphQLResponse } from '../testkit/test-app.js';

export interface SubgraphDefinition {
  name: string;
  url: string;
  typeDefs: DocumentNode;
}

/** Composes the subgraphs; throws with every composition error's message when they do not compose. */
export function composeSupergraph(subgraphs: readonly SubgraphDefinition[]): { supergraphSdl: string; hints: string[] } {
  const result = composeServices(subgraphs.map((s) => ({ name: s.name, url: s.url, typeDefs: s.typeDefs })));
  if (result.errors) throw new Error(`composition failed:\n${result.errors.map((e) => e.message).join('\n')}`);
  return { supergraphSdl: result.supergraphSdl, hints: result.hints.map((h) => h.toString()) };
}

interface GatewayContext {
  authorization: string | null;
}

/** Forwards the caller's token: the identity subgraph authenticates and authorises every call itself. */
class AuthorizationForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest({ request, context }: Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['willSendRequest']>>[0]): void {
    if (context.authorization) request.http?.headers.set('authorization', context.authorization);
  }
}

export interface Gateway {
  url: string;
  graphql<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

/** On loopback; `port` 0 (the tests') takes a free one. */
export async function startGateway(supergraphSdl: string, port = 0): Promise<Gateway> {
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ url }) => new AuthorizationForwardingDataSource({ url }),
  });
  const server = new ApolloServer<GatewayContext>({ gateway, includeStacktraceInErrorResponses: false });
  const { url } = await startStandaloneServer(server, {
    listen: { port, host: '127.0.0.1' },
    context: async ({ req }) => ({ authorization: typeof req.headers.authorization === 'string' ? req.headers.authorization : null }),
  });
  return {
    url,
    graphql: async (token, query, variables) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse['body'] } as GraphQLResponse<never>;
    },
    stop: () => server.stop(),
  };
}
