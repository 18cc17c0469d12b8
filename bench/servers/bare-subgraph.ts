/**
 * B1: a bare Apollo subgraph serving the same `Customer` entity (same fields,
 * same masked values) from an in-memory Map, with the Apollo plugin settings
 * of src/server.ts, on plain node:http like S. No auth, no stores, no policy:
 * the yardstick for "everything the product adds".
 */
import { createServer } from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { GraphQLScalarType, parse } from 'graphql';
import { readBody, reportListening, serveControl } from './server-ipc.js';

export interface BareCustomer {
  id: string;
  status: string;
  displayName: string | null;
  email: string | null;
  phone: string | null;
  country: string | null;
  preferredLanguage: string | null;
  createdAt: string;
  consent: { scopes: string[] };
  context: { customerId: string; generatedAt: string } | null;
}

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  scalar DateTime
  enum CustomerStatus { ACTIVE ERASED }
  type ConsentState { scopes: [String!]! }
  type ContextSnapshot { customerId: ID! generatedAt: DateTime! }
  type Customer @key(fields: "id") {
    id: ID!
    status: CustomerStatus!
    displayName: String
    email: String
    phone: String
    country: String
    preferredLanguage: String
    createdAt: DateTime!
    consent: ConsentState!
    context: ContextSnapshot
  }
  type Query { customer(id: ID!): Customer }
`);

// Values are kept as Date like S's records, so both serialise dates per field.
interface StoredCustomer extends Omit<BareCustomer, 'createdAt' | 'context'> {
  createdAt: Date;
  context: { customerId: string; generatedAt: Date } | null;
}
const customers = new Map<string, StoredCustomer>();

const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()),
});

const resolvers = {
  DateTime,
  Query: { customer: (_root: unknown, args: { id: string }) => customers.get(args.id) ?? null },
  Customer: { __resolveReference: (ref: { id: string }) => customers.get(ref.id) ?? null },
};

const apollo = new ApolloServer({
  schema: buildSubgraphSchema({ typeDefs, resolvers: resolvers as GraphQLResolverMap<unknown> }),
  introspection: false,
  includeStacktraceInErrorResponses: false,
  csrfPrevention: true,
  stopOnTerminationSignals: false,
  plugins: [
    ApolloServerPluginLandingPageDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginInlineTraceDisabled(),
    ApolloServerPluginCacheControlDisabled(),
  ],
});
await apollo.start();

const server = createServer((req, res) => {
  void (async () => {
    const text = await readBody(req);
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'POST', headers, search: url.search, body: text ? (JSON.parse(text) as unknown) : undefined },
      context: async () => ({}),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') res.end(response.body.string);
    else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  })().catch(() => {
    res.statusCode = 500;
    res.end();
  });
});
server.keepAliveTimeout = 65_000;

serveControl((command, payload) => {
  if (command === 'stop') return true;
  if (command !== 'load') throw new Error(`unknown command ${command}`);
  for (const c of payload as BareCustomer[]) {
    customers.set(c.id, {
      ...c,
      createdAt: new Date(c.createdAt),
      context: c.context ? { customerId: c.context.customerId, generatedAt: new Date(c.context.generatedAt) } : null,
    });
  }
  return customers.size;
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no TCP address');
  reportListening(address.port);
});
