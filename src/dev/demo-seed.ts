import type { Db } from 'mongodb';
import type { Caller } from '../auth/caller.js';
import type { ConsentScope } from '../consent/consent-types.js';
import type { Channel } from '../context-snapshots/snapshot-types.js';
import type { IdentifierInput } from '../customers/customer-service.js';
import type { Services } from '../services.js';
import { COLLECTIONS } from '../storage/mongo.js';
import type { SupportActivityInput } from '../support-records/support-record-types.js';

const FIRST = ['Jane', 'Omar', 'Aiko', 'Lucas', 'Priya', 'Mateo', 'Zanele', 'Sofia', 'Chen', 'Amara', 'Noah', 'Ines', 'Kofi', 'Elena', 'Ravi', 'Freya'];
const LAST = ['Doe', 'Haddad', 'Tanaka', 'Silva', 'Sharma', 'Garcia', 'Dlamini', 'Rossi', 'Wei', 'Okafor', 'Smith', 'Moreau', 'Mensah', 'Novak', 'Iyer', 'Larsen'];
const COUNTRIES: Array<[string, string]> = [['GB', 'en-GB'], ['DE', 'de-DE'], ['FR', 'fr-FR'], ['ES', 'es-ES'], ['IN', 'en-IN'], ['BR', 'pt-BR']];
const CHANNELS: Channel[] = ['VOICE', 'EMAIL', 'WEBCHAT', 'WHATSAPP', 'SMS', 'SOCIAL'];
const SEED_MARKER = 'demo-seed-v1';
/** Written before the first customer: a seed cut short (Ctrl-C, a kill) goes on where it stopped on the next start. */
const SEED_STARTED = 'demo-seed-started';

/** The fixed first customer, so the README and the printed examples have someone to find. */
export const DEMO_CUSTOMER = {
  displayName: 'Jane Doe',
  email: 'jane.doe@example.com',
  phone: '+447700900123',
  crmId: 'CRM-000001',
};

/** A small deterministic generator: the same demo data on every machine. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export interface SeedResult {
  seeded: boolean;
  customers: number;
  demoCustomerId: string | null;
  /** The database holds customers the seed did not write: nothing was seeded into it. */
  holdsOtherData?: true;
}

/**
 * Generated people only (example.com addresses, Ofcom drama-range phone
 * numbers). Runs once per data directory: a marker document records that it ran.
 */
export async function seedDemoData(db: Db, services: Services, count = 300, log: (line: string) => void = () => undefined): Promise<SeedResult> {
  const meta = db.collection<{ _id: string; demoCustomerId: string; customers: number; at: Date }>('veil_meta');
  const marker = await meta.findOne({ _id: SEED_MARKER });
  if (marker) return { seeded: false, customers: marker.customers, demoCustomerId: marker.demoCustomerId };
  // A development start given the URL of a database that holds real customers (NODE_ENV left out of a production
  // configuration) seeded 300 demo people into it, and its Jane Doe, registered with a phone number a real customer
  // had, linked the demo email and CRM id to that customer (a probe). Only a database without customers, or one
  // this seed began, is seeded.
  const begun = await meta.findOne({ _id: SEED_STARTED });
  if (!begun && (await db.collection(COLLECTIONS.customers).findOne({}, { projection: { _id: 1 } }))) {
    return { seeded: false, customers: 0, demoCustomerId: null, holdsOtherData: true };
  }
  if (!begun) await meta.insertOne({ _id: SEED_STARTED, demoCustomerId: '', customers: 0, at: new Date() });

  const random = createRandom(20261123);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const caller: Caller = { id: 'demo-seed', kind: 'SERVICE', scopes: new Set() };
  const actor = { caller, requestId: 'demo-seed' };
  const started = Date.now();
  let demoCustomerId = '';
  const activity: SupportActivityInput[] = [];

  for (let i = 0; i < count; i++) {
    const isDemo = i === 0;
    const first = isDemo ? 'Jane' : pick(FIRST);
    const last = isDemo ? 'Doe' : pick(LAST);
    const [country, language] = isDemo ? ['GB', 'en-GB'] : pick(COUNTRIES);
    const identifiers: IdentifierInput[] = [
      { kind: 'EMAIL', value: isDemo ? DEMO_CUSTOMER.email : `${first}.${last}.${i}@example.${pick(['com', 'org', 'net'])}`.toLowerCase() },
    ];
    // Ofcom's drama range has 1000 numbers; number 123 is the demo customer's.
    if (isDemo || (i !== 123 && random() < 0.7)) identifiers.push({ kind: 'PHONE', value: isDemo ? DEMO_CUSTOMER.phone : `+447700900${String(i).padStart(3, '0')}` });
    if (isDemo || random() < 0.5) identifiers.push({ kind: 'CRM_ID', value: isDemo ? DEMO_CUSTOMER.crmId : `CRM-${String(i + 1).padStart(6, '0')}` });

    const customer = await services.customers.register(
      { identifiers, displayName: `${first} ${last}`, country, preferredLanguage: language, channel: isDemo ? 'EMAIL' : pick(CHANNELS) },
      actor,
    );
    if (isDemo) demoCustomerId = customer.id;

    const consent: ConsentScope[] = isDemo || random() < 0.8 ? ['support_context', 'identity_linking'] : ['identity_linking'];
    if (random() < 0.4) consent.push('analytics');
    if (random() < 0.3) consent.push('marketing_email');
    await services.consent.record({ customerId: customer.id, scopes: consent, source: `${pick(CHANNELS).toLowerCase()}-signup` }, actor);
    activity.push(demoSupportActivity(customer.id, i, random, pick));

    if ((i + 1) % 50 === 0) log(`  seeded ${i + 1}/${count} customers`);
  }
  // One bulk insert at the end: a push per customer would re-check each customer (a full scan on FerretDB).
  const importStarted = Date.now();
  const records = await services.supportRecords.importMany(activity);
  log(`  seeded ${records} support records in ${Date.now() - importStarted} ms`);
  await meta.insertOne({ _id: SEED_MARKER, demoCustomerId, customers: count, at: new Date() });
  log(`demo data: ${count} customers seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { seeded: true, customers: count, demoCustomerId };
}

const TICKET_SUBJECTS = ['Router keeps rebooting', 'Refund not received', 'Cannot log in to the app', 'Upgrade to a faster plan', 'Parcel arrived damaged', 'Question about the last bill'];
const TICKET_STATUSES = ['open', 'pending', 'waiting_on_customer', 'resolved', 'closed'];
const PLANS = ['Fibre 100', 'Fibre 500', 'Mobile Unlimited', 'TV Essentials', 'Cloud Backup 1 TB'];
const OUTCOMES = ['resolved', 'escalated', 'callback_booked', 'no_answer'];

/** A few tickets, a subscription, transactions and interactions, dated in the last 90 days: one push per customer. */
function demoSupportActivity(customerId: string, index: number, random: () => number, pick: <T>(list: readonly T[]) => T): SupportActivityInput {
  const now = Date.now();
  const daysAgo = (max: number): Date => new Date(now - Math.floor(random() * max * 86_400_000) - 60_000);
  const ref = String(index + 1).padStart(5, '0');
  const ticketCount = index === 0 ? 2 : Math.floor(random() * 3);
  const transactionCount = 1 + Math.floor(random() * 3);
  const interactionCount = 1 + Math.floor(random() * 3);
  return {
    customerId,
    tickets: Array.from({ length: ticketCount }, (_, t) => ({
      id: `TCK-${ref}-${t + 1}`,
      status: index === 0 && t === 0 ? 'open' : pick(TICKET_STATUSES),
      subject: pick(TICKET_SUBJECTS),
      openedAt: daysAgo(60),
    })),
    subscriptions: [{ id: `SUB-${ref}`, plan: pick(PLANS), status: random() < 0.85 ? 'active' : 'cancelled', startedAt: daysAgo(900), renewsAt: new Date(now + Math.floor(random() * 30 + 1) * 86_400_000) }],
    transactions: Array.from({ length: transactionCount }, (_, t) => ({
      id: `TXN-${ref}-${t + 1}`,
      status: random() < 0.9 ? 'settled' : 'refunded',
      amountMinor: 499 + Math.floor(random() * 20_000),
      currency: pick(['GBP', 'EUR', 'INR', 'BRL']),
      occurredAt: daysAgo(90),
      description: 'Monthly plan charge',
    })),
    interactions: Array.from({ length: interactionCount }, (_, t) => ({
      id: `INT-${ref}-${t + 1}`,
      channel: pick(CHANNELS),
      occurredAt: daysAgo(30),
      summary: 'Customer contacted support about their service',
      outcome: pick(OUTCOMES),
    })),
    // Letters around every digit run: a run of seven digits standing apart would read as a phone number.
    deviceFingerprint: `dfp_${ref}x${Math.floor(random() * 0xffffff).toString(16).padStart(6, 'a')}`,
  };
}
