/**
 * A second subgraph for the supergraph tests: a CRM "tickets" service with
 * its own in-memory data. It knows customers only by key (`Customer @key(fields:
 * "id")`), contributes `Customer.tickets` / `Customer.openTicketCount`, and
 * hands out `Ticket.customer` references that the gateway resolves through
 * the identity subgraph's `_entities`.
 */
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type DocumentNode } from 'graphql';

export interface TicketRecord {
  id: string;
  subject: string;
  status: 'OPEN' | 'CLOSED';
  customerId: string;
}

export const TICKETS_TYPE_DEFS: DocumentNode = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Ticket @key(fields: "id") {
    id: ID!
    subject: String!
    status: String!
    "Null when the identity subgraph does not know the id (a stale key)."
    customer: Customer
  }

  type Customer @key(fields: "id") {
    id: ID!
    tickets: [Ticket!]!
    openTicketCount: Int!
  }

  type Query {
    ticket(id: ID!): Ticket
    openTickets: [Ticket!]!
  }
`);

export interface TicketsSubgraph {
  url: string;
  typeDefs: DocumentNode;
  /** Authorization headers this subgraph received, in order (to prove the gateway forwards them). */
  receivedAuthorization: Array<string | null>;
  stop(): Promise<void>;
}

interface TicketsContext {
  authorization: string | null;
}

export async function startTicketsSubgraph(tickets: readonly TicketRecord[]): Promise<TicketsSubgraph> {
  const byId = new Map(tickets.map((t) => [t.id, t]));
  const ofCustomer = (customerId: string) => tickets.filter((t) => t.customerId === customerId);
  const receivedAuthorization: Array<string | null> = [];

  const schema = buildSubgraphSchema({
    typeDefs: TICKETS_TYPE_DEFS,
    resolvers: {
      Query: {
        ticket: (_root: unknown, { id }: { id: string }) => byId.get(id) ?? null,
        openTickets: () => tickets.filter((t) => t.status === 'OPEN'),
      },
      Ticket: {
        __resolveReference: (ref: { id: string }) => byId.get(ref.id) ?? null,
        // A reference only: every other Customer field comes from the identity subgraph, under its policy.
        customer: (ticket: TicketRecord) => ({ __typename: 'Customer', id: ticket.customerId }),
      },
      Customer: {
        __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
        tickets: (customer: { id: string }) => ofCustomer(customer.id),
        openTicketCount: (customer: { id: string }) => ofCustomer(customer.id).filter((t) => t.status === 'OPEN').length,
      },
    },
  });
  const server = new ApolloServer<TicketsContext>({ schema, includeStacktraceInErrorResponses: false, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => {
      const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : null;
      receivedAuthorization.push(authorization);
      return { authorization };
    },
  });
  return { url, typeDefs: TICKETS_TYPE_DEFS, receivedAuthorization, stop: () => server.stop() };
}
