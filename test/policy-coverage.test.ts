/**
 * Deny by default: the policy table covers every field of the schema, and a
 * field that the table does not name is withheld by both engines, whoever asks.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatAST, execute, parse, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { AGENT_SCOPES, SERVICE_SCOPES as ALL_SERVICE_SCOPES, classifyCaller, type Caller } from '../src/auth/caller.js';
import type { RequestContext } from '../src/context.js';
import { createLoaders } from '../src/loaders.js';
import { createLogger } from '../src/observability/logger.js';
import { FIELD_POLICY } from '../src/policy/policy-table.js';
import { listPolicyCoordinates } from '../src/policy/shield-rules.js';
import { loadTypeDefs } from '../src/schema-loader.js';
import { buildPolicySchema, type PolicyEngine } from '../src/server.js';
import { registerJane } from './policy-fixtures.js';
import { SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

const EVERY_SCOPE = [...AGENT_SCOPES, ...ALL_SERVICE_SCOPES];
const tableCoordinates = Object.entries(FIELD_POLICY).flatMap(([type, fields]) => Object.keys(fields).map((field) => `${type}.${field}`));

let app: TestApp;
let customerId: string;

beforeAll(async () => {
  app = await startTestApp();
  customerId = (await registerJane(app, await app.token(SERVICE_SCOPES, 'svc-crm'))).id;
});
afterAll(async () => {
  await app?.stop();
});

function contextFor(scopes: readonly string[]): RequestContext {
  const services = app.app.services;
  const set = new Set(scopes);
  const caller: Caller = { id: 'agent-everything', kind: classifyCaller(set), scopes: set };
  const requestId = `req-${randomBytes(6).toString('hex')}`;
  return { requestId, caller, services, loaders: createLoaders(services, caller, requestId), log: createLogger('silent') };
}

async function run(schema: GraphQLSchema, query: string, variableValues: Record<string, unknown> = {}): Promise<ExecutionResult> {
  return execute({ schema, document: parse(query), variableValues, contextValue: contextFor(EVERY_SCOPE) });
}

function forbidden(result: ExecutionResult): Array<{ path: unknown; reason: unknown; message: string }> {
  return (result.errors ?? []).map((e) => ({ path: e.path, reason: e.extensions['reason'], message: e.message }));
}

describe('coverage of the schema by the policy table', () => {
  it('names every object field of the served schema, federation fields included', () => {
    const uncovered = listPolicyCoordinates(buildPolicySchema('guards')).filter((c) => !tableCoordinates.includes(c));
    expect(uncovered).toEqual([]);
  });

  it('names no field that the schema does not have', () => {
    const inSchema = new Set(listPolicyCoordinates(buildPolicySchema('off')));
    expect(tableCoordinates.filter((c) => !inSchema.has(c))).toEqual([]);
  });

  it('lists the federation plumbing the deny fallback would otherwise break', () => {
    expect(listPolicyCoordinates(buildPolicySchema('guards'))).toEqual(expect.arrayContaining(['Query._entities', 'Query._service', '_Service.sdl']));
  });
});

// `erasedAt` exists on every customer record, so a default resolver would happily serve it: only the policy stops it.
const EXTENDED = concatAST([
  loadTypeDefs(),
  parse(`
    extend type Customer { erasedAt: DateTime }
    extend type Query { customerCount: Int }
  `),
]);

describe.each<PolicyEngine>(['guards', 'shield-everywhere'])('a field added to the schema but not to the table, under %s', (engine) => {
  const schema = buildPolicySchema(engine, undefined, { typeDefs: EXTENDED });

  it('is withheld with MISSING_SCOPE from a caller holding every scope, through customer(id)', async () => {
    const result = await run(schema, 'query($id: ID!) { customer(id: $id) { id erasedAt } }', { id: customerId });
    expect(result.data).toEqual({ customer: { id: customerId, erasedAt: null } });
    expect(forbidden(result)).toEqual([
      { path: ['customer', 'erasedAt'], reason: 'MISSING_SCOPE', message: 'Customer.erasedAt is not covered by the field policy and is withheld' },
    ]);
  });

  it('is withheld through _entities as well', async () => {
    const result = await run(schema, 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id erasedAt } } }', {
      r: [{ __typename: 'Customer', id: customerId }],
    });
    expect(result.data).toEqual({ _entities: [{ id: customerId, erasedAt: null }] });
    expect(forbidden(result).map((e) => [e.path, e.reason])).toEqual([[['_entities', 0, 'erasedAt'], 'MISSING_SCOPE']]);
  });

  it('is withheld when it is a root field', async () => {
    const result = await run(schema, '{ customerCount }');
    expect(result.data).toEqual({ customerCount: null });
    expect(forbidden(result).map((e) => [e.path, e.reason])).toEqual([[['customerCount'], 'MISSING_SCOPE']]);
  });

  it('does not carry a @requiresScopes directive of its own in the SDL', async () => {
    const result = await run(schema, '{ _service { sdl } }');
    const sdl = (result.data as { _service: { sdl: string } })._service.sdl;
    expect(sdl).toMatch(/erasedAt: DateTime\n/);
  });
});

describe.each<PolicyEngine>(['guards', 'shield-everywhere'])('a field dropped from the table, under %s', (engine) => {
  const { country: _dropped, ...customerRules } = FIELD_POLICY['Customer'] ?? {};
  const schema = buildPolicySchema(engine, undefined, { table: { ...FIELD_POLICY, Customer: customerRules } });

  it('is withheld while the fields still named are served', async () => {
    const result = await run(schema, 'query($id: ID!) { customer(id: $id) { id country preferredLanguage } }', { id: customerId });
    expect(result.data).toEqual({ customer: { id: customerId, country: null, preferredLanguage: 'en-GB' } });
    expect(forbidden(result).map((e) => [e.path, e.reason])).toEqual([[['customer', 'country'], 'MISSING_SCOPE']]);
  });
});
