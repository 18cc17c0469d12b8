import { randomBytes } from 'node:crypto';

let counter = 0;

/** A fresh, valid, never-seen email address (example.com is reserved for examples). */
export function anEmail(label = 'person'): string {
  counter += 1;
  return `${label}.${counter}.${randomBytes(4).toString('hex')}@example.com`;
}

/** A fresh E.164 number in a range that is valid but not assigned to anyone (+1 area 201, exchange 555-01xx style). */
export function aPhone(): string {
  counter += 1;
  const n = (Number.parseInt(randomBytes(3).toString('hex'), 16) % 900_000) + 100_000;
  return `+4420794${String(n).slice(0, 5)}`;
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
