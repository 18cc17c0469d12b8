/**
 * `VEIL_TOKEN=<JWT> npm run supergraph`: the README's supergraph queries, on this machine. Composes the running
 * subgraph (its `_service { sdl }`, read with the token) with the small CRM "tickets" subgraph the tests use, and
 * serves the supergraph through @apollo/gateway, forwarding each caller's Authorization header. Loopback only; stops
 * with Ctrl-C. The tickets name Jane Doe of the demo data (`jane.doe@example.com`, looked up with the token).
 */
import { parseArgs } from 'node:util';
import { parse } from 'graphql';
import { composeSupergraph, startGateway } from '../test/supergraph/supergraph-gateway.js';
import { startTicketsSubgraph, type TicketRecord } from '../test/supergraph/tickets-subgraph.js';

const USAGE = `Usage: VEIL_TOKEN=<JWT> npm run supergraph [-- --subgraph http://localhost:4001/graphql] [--port 4000]
       npm run supergraph -- --token <JWT> [...]   (npm echoes the command, token included)

Start the subgraph first with POLICY_ROUTER_DIRECTIVES=false (POLICY_ROUTER_DIRECTIVES=false npm start):
@apollo/gateway refuses the @requiresScopes the subgraph serves by default. Any demo token npm start prints will do.`;

/** A customer id no subgraph knows: a ticket imported from an older CRM. */
const STALE_ID = 'cus_00000000000000000000000000';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      token: { type: 'string' },
      subgraph: { type: 'string', default: 'http://localhost:4001/graphql' },
      port: { type: 'string', default: '4000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const token = values.token ?? process.env['VEIL_TOKEN'];
  const port = Number(values.port);
  if (!token || !Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(USAGE);
    return 2;
  }
  const subgraph = values.subgraph;
  const call = async <T>(query: string, variables?: Record<string, unknown>): Promise<T> => {
    const response = await fetch(subgraph, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    }).catch((error: unknown) => {
      throw new Error(`the subgraph at ${subgraph} cannot be reached (${(error as Error).cause ?? error}); is npm start running?`);
    });
    const body = (await response.json().catch(() => ({}))) as { data?: T; errors?: Array<{ message: string }> };
    if (!response.ok || body.data === undefined || body.data === null) {
      throw new Error(`the subgraph answered HTTP ${response.status}: ${body.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
    }
    return body.data;
  };

  const { _service } = await call<{ _service: { sdl: string } }>('{ _service { sdl } }');
  if (_service.sdl.includes('@requiresScopes')) {
    console.error('The subgraph serves @requiresScopes, which @apollo/gateway refuses: start it with POLICY_ROUTER_DIRECTIVES=false.');
    return 2;
  }
  const found = await call<{ resolveCustomer: { customer: { id: string } | null } }>(
    `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: API, interactionId: "supergraph-demo" }) { customer { id } } }`,
    { v: 'jane.doe@example.com' },
  ).catch(() => ({ resolveCustomer: { customer: null } }));
  const jane = found.resolveCustomer.customer?.id ?? STALE_ID;
  const records: TicketRecord[] = [
    { id: 'T-1', subject: 'Router keeps rebooting', status: 'OPEN', customerId: jane },
    { id: 'T-2', subject: 'Refund', status: 'CLOSED', customerId: jane },
    { id: 'T-3', subject: 'Imported from the old CRM', status: 'OPEN', customerId: STALE_ID },
  ];
  const tickets = await startTicketsSubgraph(records);
  const { supergraphSdl } = composeSupergraph([
    { name: 'identity', url: subgraph, typeDefs: parse(_service.sdl) },
    { name: 'tickets', url: tickets.url, typeDefs: tickets.typeDefs },
  ]);
  const gateway = await startGateway(supergraphSdl, port);
  console.log(`Supergraph (identity + tickets) served by @apollo/gateway at ${gateway.url}`);
  console.log(`Jane Doe is ${jane === STALE_ID ? 'not in this subgraph (no demo data?)' : jane}; try:`);
  console.log(`  curl -s ${gateway.url} -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \\`);
  console.log(`    -d '{"query":"{ openTickets { id subject customer { id displayName email } } }"}'`);
  console.log('Stop with Ctrl-C.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await gateway.stop();
  await tickets.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`supergraph: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
