import { randomBytes } from 'node:crypto';

let counter = 0;

/** A fresh, valid, never-seen email address (example.com is reserved for examples). */
export function anEmail(label = 'person'): string {
  counter += 1;
  return `${label}.${counter}.${randomBytes(4).toString('hex')}@example.com`;
}

/** Where this process's phone numbers start: numbers drawn at random met again (a customer with another test's tickets). */
const phoneBase = Number.parseInt(randomBytes(3).toString('hex'), 16) % 90_000;
let phones = 0;

/**
 * A fresh valid E.164 number (London, +44 20 794x xxxx), never the same twice in one test process: each test file
 * registers its numbers in a database of its own. Drawn at random from 90,000, two of the hundred a file registers met
 * about one run in twenty, and the second registration answered with the first customer.
 */
export function aPhone(): string {
  counter += 1;
  const n = 10_000 + ((phoneBase + phones++) % 90_000);
  return `+4420794${n}`;
}

export function aCrmId(): string {
  counter += 1;
  return `CRM-${randomBytes(5).toString('hex').toUpperCase()}`;
}

export const REGISTER = `mutation Register($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { id status createdAt }
}`;

export const SERVICE_SCOPES = ['identity:resolve', 'identity:write', 'consent:write', 'context:write'];
export const AGENT_SCOPES = ['customer:read', 'context:read', 'consent:read'];
