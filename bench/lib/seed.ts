/**
 * Seeds the benchmark data through the public GraphQL API of S (so it follows
 * whatever the services do today): customers, consent, support activity, and
 * the PII access grants of the audited read (requested by one agent, approved
 * by another).
 */
import { graphql, mapPool, requireData } from './graphql-client.js';

const REGISTER = `mutation BenchRegister($input: RegisterCustomerInput!) { registerCustomer(input: $input) { id } }`;
const CONSENT = `mutation BenchConsent($input: RecordConsentInput!) { recordConsent(input: $input) { id } }`;
const ACTIVITY = `mutation BenchActivity($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`;
const REQUEST_GRANT = `mutation BenchRequestGrant($input: PiiAccessRequestInput!) { requestPiiAccess(input: $input) { id status } }`;
const APPROVE_GRANT = `mutation BenchApproveGrant($grantId: ID!) { approvePiiAccess(grantId: $grantId) { id status } }`;

const FIRST = ['Jane', 'Omar', 'Aiko', 'Lucas', 'Priya', 'Mateo', 'Zanele', 'Sofia'];
const LAST = ['Doe', 'Haddad', 'Tanaka', 'Silva', 'Sharma', 'Garcia', 'Dlamini', 'Rossi'];
const COUNTRIES: Array<[string, string]> = [['GB', 'en-GB'], ['DE', 'de-DE'], ['FR', 'fr-FR'], ['ES', 'es-ES']];

export interface SeedOutcome {
  customerIds: string[];
  seconds: number;
  supportActivity: 'seeded' | string;
}

export async function seedCustomers(
  url: string,
  serviceToken: string,
  count: number,
  runTag: string,
  log: (line: string) => void,
): Promise<SeedOutcome> {
  const started = Date.now();
  let done = 0;
  const customerIds = await mapPool(Array.from({ length: count }, (_v, i) => i), 4, async (i) => {
    const first = FIRST[i % FIRST.length] as string;
    const last = LAST[Math.floor(i / FIRST.length) % LAST.length] as string;
    const [country, language] = COUNTRIES[i % COUNTRIES.length] as [string, string];
    const identifiers: Array<{ kind: string; value: string }> = [{ kind: 'EMAIL', value: `bench.${runTag}.${i}@example.com` }];
    // Ofcom's drama range (+44 7700 900000-900999) has 1000 numbers.
    if (i < 1000) identifiers.push({ kind: 'PHONE', value: `+447700900${String(i).padStart(3, '0')}` });
    const registered = requireData(
      await graphql<{ registerCustomer: { id: string } }>(url, serviceToken, REGISTER, {
        input: { identifiers, displayName: `${first} ${last}`, country, preferredLanguage: language, channel: 'API' },
      }),
      'registerCustomer',
    );
    const id = registered.registerCustomer.id;
    requireData(
      await graphql(url, serviceToken, CONSENT, { input: { customerId: id, scopes: ['support_context', 'identity_linking'], source: 'bench-seed' } }),
      'recordConsent',
    );
    done += 1;
    if (done % 100 === 0) log(`  seeded ${done}/${count} customers (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return id;
  });

  let supportActivity = 'seeded';
  try {
    await mapPool(customerIds, 4, async (customerId, i) => {
      const at = new Date(Date.UTC(2026, 0, 1 + (i % 28))).toISOString();
      requireData(
        await graphql(url, serviceToken, ACTIVITY, {
          input: {
            customerId,
            tickets: [{ id: `T-${i}`, status: 'OPEN', subject: 'Router keeps rebooting', openedAt: at }],
            subscriptions: [{ id: `S-${i}`, plan: 'fibre-500', status: 'ACTIVE', startedAt: at }],
            transactions: [{ id: `X-${i}`, status: 'SETTLED', amountMinor: 2999, currency: 'GBP', occurredAt: at, description: 'Monthly plan' }],
            interactions: [{ id: `I-${i}`, channel: 'VOICE', occurredAt: at, summary: 'Asked about the router', outcome: 'RESOLVED' }],
          },
        }),
        'recordSupportActivity',
      );
    });
  } catch (error) {
    // Support activity belongs to the context work in progress; the read workloads do not need it.
    supportActivity = `not seeded: ${error instanceof Error ? error.message : String(error)}`;
    log(`  support activity ${supportActivity}`);
  }
  return { customerIds, seconds: (Date.now() - started) / 1000, supportActivity };
}

/** Agent A requests EMAIL access to each customer, agent B approves: the audited clear-text read needs both. */
export async function grantEmailAccess(url: string, requesterToken: string, approverToken: string, customerIds: readonly string[]): Promise<void> {
  await mapPool(customerIds, 4, async (customerId) => {
    const requested = requireData(
      await graphql<{ requestPiiAccess: { id: string; status: string } }>(url, requesterToken, REQUEST_GRANT, {
        input: { customerId, fields: ['EMAIL'], justification: 'Benchmark: audited clear-text read', ttlSeconds: 3600 },
      }),
      'requestPiiAccess',
    );
    const approved = requireData(
      await graphql<{ approvePiiAccess: { id: string; status: string } }>(url, approverToken, APPROVE_GRANT, { grantId: requested.requestPiiAccess.id }),
      'approvePiiAccess',
    );
    if (approved.approvePiiAccess.status !== 'APPROVED') throw new Error(`grant for a customer is ${approved.approvePiiAccess.status}, not APPROVED`);
  });
}
