/**
 * The field policy, field by field: every Customer, ContextSnapshot, Consent
 * and AuditEvent field x representative callers x the customer's consent
 * (support_context given / withdrawn) x route (`customer(id)` / `_entities`),
 * against real servers. The expected outcomes are written in
 * policy-fixtures.ts from the contract, not derived from the table.
 *
 * The same matrix then runs against `policyEngine: 'shield-everywhere'`
 * (graphql-shield's middleware on every field, the reference engine) to prove
 * that the production engine's field guards withhold exactly the same fields
 * for the same reasons, and in-process with a decision observer to prove that
 * every rule of the table fires with every outcome it can give.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, parse, type ExecutionResult } from 'graphql';
import { classifyCaller, type Caller } from '../src/auth/caller.js';
import type { RequestContext } from '../src/context.js';
import { createLoaders } from '../src/loaders.js';
import { createLogger } from '../src/observability/logger.js';
import type { Decision } from '../src/policy/policy-decision.js';
import { entityReachScopes, entityTypesOf } from '../src/policy/entity-reach.js';
import { FIELD_POLICY } from '../src/policy/policy-table.js';
import { buildPolicySchema } from '../src/server.js';
import {
  buildProbes,
  CONSENT_STATES,
  customerOf,
  expectedOutcome,
  MATRIX_CALLERS,
  MATRIX_TYPES,
  observedOutcome,
  pickVariables,
  probeResolvability,
  registerJane,
  ROUTES,
  seedMatrixWorld,
  variablesFor,
  type ConsentStateKey,
  type MatrixCaller,
  type MatrixWorld,
  type Route,
} from './policy-fixtures.js';
import { anEmail, aCrmId, SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type GraphQLResponse, type TestApp } from './testkit/test-app.js';

const resolvability = probeResolvability();

let app: TestApp;
let shieldApp: TestApp;
let world: MatrixWorld;
const tokens = new Map<string, string>();
const responses = new Map<string, Promise<GraphQLResponse<unknown>>>();

beforeAll(async () => {
  app = await startTestApp();
  // Same database, Redis prefix and signing keys: the same world, another engine.
  shieldApp = await startTestApp({ shareStoresWith: app, policyEngine: 'shield-everywhere' });
  world = await seedMatrixWorld(app, resolvability);
  for (const caller of MATRIX_CALLERS) tokens.set(caller.key, await app.token(caller.scopes, caller.sub));
});
afterAll(async () => {
  await shieldApp?.stop();
  await app?.stop();
});

function responseFor(engine: 'guards' | 'shield', caller: MatrixCaller, state: ConsentStateKey, route: Route, type: string): Promise<GraphQLResponse<unknown>> {
  const key = [engine, caller.key, state, route, type].join('|');
  let response = responses.get(key);
  if (!response) {
    const { query, variables } = buildProbes(type, route);
    const target = engine === 'guards' ? app : shieldApp;
    response = target.graphql(tokens.get(caller.key) ?? null, query, pickVariables(variablesFor(customerOf(world, state)), variables));
    responses.set(key, response);
  }
  return response;
}

/** Rows whose parent the running code cannot resolve yet (another area's resolver) cannot be observed. */
function isUnobservable(type: string, route: Route): boolean {
  if (type === 'ContextSnapshot') return !resolvability.hasContext;
  if (type === 'AuditEvent' && route === 'customer(id)') return !resolvability.hasAuditTrail;
  return false;
}

/** Values cannot be checked where the type's reference resolver is missing: only the policy outcome is. */
function isPolicyOnly(type: string, route: Route): boolean {
  return type === 'AuditEvent' && route === '_entities' && !resolvability.hasAuditEventReference;
}

const policyOnly = (outcome: string): string => (outcome.startsWith('FORBIDDEN') ? outcome : 'allowed');

describe.each(MATRIX_CALLERS)('$label', (caller) => {
  describe.each(CONSENT_STATES)('on a customer whose support_context consent is %s', (state) => {
    describe.each(ROUTES)('through %s', (route) => {
      for (const type of Object.keys(MATRIX_TYPES)) {
        const skip = isUnobservable(type, route);
        it.skipIf(skip)(`gets exactly the policy's outcome for every ${type} field`, async () => {
          const res = await responseFor('guards', caller, state, route, type);
          expect(res.status).toBe(200);
          const customer = customerOf(world, state);
          const isOnlyPolicy = isPolicyOnly(type, route);
          const expected: Record<string, string> = {};
          const observed: Record<string, string> = {};
          for (const probe of buildProbes(type, route).probes) {
            const want = expectedOutcome(probe, caller, state, customer);
            expected[probe.coordinate] = isOnlyPolicy ? policyOnly(want) : want;
            observed[probe.coordinate] = observedOutcome(probe, res.body, customer, { policyOnly: isOnlyPolicy, expected: want });
          }
          expect(observed).toEqual(expected);
        });

        it.skipIf(skip)(`is withheld the same ${type} fields for the same reasons when graphql-shield guards every field`, async () => {
          const [guards, shielded] = await Promise.all([responseFor('guards', caller, state, route, type), responseFor('shield', caller, state, route, type)]);
          const customer = customerOf(world, state);
          const outcomes = (body: GraphQLResponse<unknown>['body']) =>
            Object.fromEntries(buildProbes(type, route).probes.map((p) => [p.coordinate, observedOutcome(p, body, customer, { policyOnly: true, expected: '' })]));
          expect(outcomes(shielded.body)).toEqual(outcomes(guards.body));
        });
      }
    });
  });
});

describe('the matrix as a whole', () => {
  it('withholds with every reason the contract names somewhere in the matrix', async () => {
    const reasons = new Set<string>();
    for (const caller of MATRIX_CALLERS) {
      for (const state of CONSENT_STATES) {
        for (const route of ROUTES) {
          for (const type of Object.keys(MATRIX_TYPES)) {
            if (isUnobservable(type, route)) continue;
            const res = await responseFor('guards', caller, state, route, type);
            for (const error of res.body.errors ?? []) {
              if (error.extensions?.['code'] === 'FORBIDDEN') reasons.add(String(error.extensions['reason']));
            }
          }
        }
      }
    }
    const expected = resolvability.hasContext ? ['CONSENT_REQUIRED', 'ELEVATION_REQUIRED', 'MISSING_SCOPE'] : ['ELEVATION_REQUIRED', 'MISSING_SCOPE'];
    expect([...reasons].sort()).toEqual(expected);
  });
});

// ---------------------------------------------------------------------------
// Every rule fires: the same operations, executed in-process on the production
// engine's schema with a decision observer (root fields are decided by the
// compiled graphql-shield rules, object fields by the field guards).

type Seen = Map<string, Set<string>>;
const label = (decision: Decision): string => (decision.outcome === 'withheld' ? decision.reason : decision.outcome);

function contextFor(caller: Caller): RequestContext {
  const services = app.app.services;
  const requestId = `req-${randomBytes(6).toString('hex')}`;
  return { requestId, caller, services, loaders: createLoaders(services, caller, requestId), log: createLogger('silent') };
}

function callerOf(sub: string, scopes: readonly string[]): Caller {
  const set = new Set(scopes);
  return { id: sub, kind: classifyCaller(set), scopes: set };
}

interface RootProbe {
  coordinate: string;
  scopes: string[];
  query: string;
  variables?: (customerId: string) => Record<string, unknown>;
}

// One operation per root field of the table, run once by a caller without scopes and once by a caller holding exactly the rule's scope.
const ROOT_PROBES: RootProbe[] = [
  { coordinate: 'Query.customer', scopes: ['customer:read'], query: 'query($id: ID!) { customer(id: $id) { id } }', variables: (id) => ({ id }) },
  {
    coordinate: 'Query.resolveCustomer',
    scopes: ['identity:resolve'],
    query: 'query($v: String!) { resolveCustomer(input: { identifier: { kind: CRM_ID, value: $v } }) { auditEventId } }',
    variables: () => ({ v: aCrmId() }),
  },
  { coordinate: 'Query.sessionContext', scopes: ['context:read'], query: '{ sessionContext(token: "not-a-session") { customerId } }' },
  { coordinate: 'Query.dataSubjectAccess', scopes: ['dsar:process'], query: 'query($id: ID!) { dataSubjectAccess(customerId: $id) { customerId } }', variables: (id) => ({ id }) },
  { coordinate: 'Query.verifyAuditTrail', scopes: ['audit:read'], query: 'query($id: ID!) { verifyAuditTrail(customerId: $id) { valid } }', variables: (id) => ({ id }) },
  { coordinate: 'Query._service', scopes: [], query: '{ _service { sdl } }' },
  {
    coordinate: 'Mutation.registerCustomer',
    scopes: ['identity:write'],
    query: 'mutation($e: String!) { registerCustomer(input: { identifiers: [{ kind: EMAIL, value: $e }] }) { id } }',
    variables: () => ({ e: anEmail('rules') }),
  },
  {
    coordinate: 'Mutation.linkIdentifier',
    scopes: ['identity:write'],
    query: 'mutation($id: ID!, $c: String!) { linkIdentifier(customerId: $id, identifier: { kind: CRM_ID, value: $c }) { id } }',
    variables: (id) => ({ id, c: aCrmId() }),
  },
  {
    coordinate: 'Mutation.recordConsent',
    scopes: ['consent:write'],
    query: 'mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["analytics"], source: "rule-test" }) { id } }',
    variables: (id) => ({ id }),
  },
  {
    coordinate: 'Mutation.recordSupportActivity',
    scopes: ['context:write'],
    query: 'mutation($id: ID!) { recordSupportActivity(input: { customerId: $id, deviceFingerprint: "fp_rule_test_1" }) }',
    variables: (id) => ({ id }),
  },
  {
    coordinate: 'Mutation.startSupportSession',
    scopes: ['context:read'],
    query: 'mutation($id: ID!) { startSupportSession(customerId: $id, channel: VOICE) { expiresAt } }',
    variables: (id) => ({ id }),
  },
  { coordinate: 'Mutation.endSupportSession', scopes: ['context:read'], query: 'mutation { endSupportSession(token: "not-a-session") }' },
  {
    coordinate: 'Mutation.requestPiiAccess',
    scopes: ['pii:read'],
    query: 'mutation($id: ID!) { requestPiiAccess(input: { customerId: $id, fields: [DISPLAY_NAME], justification: "rule firing test" }) { id } }',
    variables: (id) => ({ id }),
  },
  { coordinate: 'Mutation.approvePiiAccess', scopes: ['pii:approve'], query: 'mutation { approvePiiAccess(grantId: "grt_00000000000000000000000000") { id } }' },
  // Last: it erases the throwaway customer the other mutations used.
  {
    coordinate: 'Mutation.eraseCustomer',
    scopes: ['dsar:process'],
    query: 'mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "rule-test-1", reason: "rule firing test") { customerId } }',
    variables: (id) => ({ id }),
  },
];

const ENTITY_REACH = entityReachScopes(FIELD_POLICY, entityTypesOf(buildPolicySchema('off')));

/** Outcomes a rule can give through the API: the observer must see each of them at least once. */
function outcomesOf(coordinate: string): string[] {
  const [type = '', field = ''] = coordinate.split('.');
  const rule = FIELD_POLICY[type]?.[field];
  if (!rule || rule.kind === 'open') return ['full'];
  if (rule.kind === 'pii') return ['clear', 'ELEVATION_REQUIRED', 'masked', 'MISSING_SCOPE'];
  // Every way to a ContextSnapshot (Customer.context, Query.sessionContext) already needs context:read,
  // so a ContextSnapshot rule asking for context:read alone cannot say MISSING_SCOPE: it is defence in depth.
  const isImpliedByParent = type === 'ContextSnapshot' && rule.scopes.every((s) => s === 'context:read') && !rule.allScopes?.length;
  // Likewise a field of an entity type whose every field asks for the same scopes (Consent, AuditEvent): _entities
  // already refuses a caller without them at the entity (policy/entity-reach.ts), so the field's own MISSING_SCOPE is
  // defence in depth too.
  const reach = ENTITY_REACH.get(type);
  const isImpliedByReach = reach !== undefined && reach !== null && reach.every((s) => rule.scopes.includes(s)) && !rule.allScopes?.length;
  return [...(rule.consent ? ['CONSENT_REQUIRED'] : []), 'full', ...(isImpliedByParent || isImpliedByReach ? [] : ['MISSING_SCOPE'])];
}

describe('every rule of the policy table fires', () => {
  const seen: Seen = new Map();

  beforeAll(async () => {
    const schema = buildPolicySchema('guards', undefined, {
      observeOpenFields: true,
      onDecision: (coordinate, decision) => {
        const outcomes = seen.get(coordinate) ?? new Set<string>();
        outcomes.add(label(decision));
        seen.set(coordinate, outcomes);
      },
    });
    const run = async (caller: Caller, query: string, variableValues: Record<string, unknown>): Promise<ExecutionResult> =>
      execute({ schema, document: parse(query), variableValues, contextValue: contextFor(caller) });

    for (const matrixCaller of MATRIX_CALLERS) {
      const caller = callerOf(matrixCaller.sub, matrixCaller.scopes);
      for (const state of CONSENT_STATES) {
        for (const route of ROUTES) {
          for (const type of Object.keys(MATRIX_TYPES)) {
            const { query, variables } = buildProbes(type, route);
            await run(caller, query, pickVariables(variablesFor(customerOf(world, state)), variables));
          }
        }
      }
    }
    const service = await app.token(SERVICE_SCOPES, 'svc-crm');
    const throwaway = await registerJane(app, service);
    for (const probe of ROOT_PROBES) {
      const variables = probe.variables?.(throwaway.id) ?? {};
      await run(callerOf('caller-none', []), probe.query, variables);
      await run(callerOf('caller-allowed', probe.scopes), probe.query, variables);
    }
  });

  it('decides every root, Customer, Consent and AuditEvent field with every outcome its rule can give', () => {
    const missing: string[] = [];
    for (const [type, fields] of Object.entries(FIELD_POLICY)) {
      if (type === 'ContextSnapshot') continue;
      for (const [field, rule] of Object.entries(fields)) {
        const coordinate = `${type}.${field}`;
        // Open fields have no check of their own; the federation ones are watched because a deny there would break the supergraph.
        if (rule.kind === 'open' && !['Query._entities', 'Query._service', '_Service.sdl'].includes(coordinate)) continue;
        for (const outcome of outcomesOf(coordinate)) {
          if (!seen.get(coordinate)?.has(outcome)) missing.push(`${coordinate} ${outcome}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it.skipIf(!resolvability.hasContext)('decides every ContextSnapshot field with every outcome its rule can give', () => {
    const missing: string[] = [];
    for (const field of Object.keys(FIELD_POLICY['ContextSnapshot'] ?? {})) {
      const coordinate = `ContextSnapshot.${field}`;
      for (const outcome of outcomesOf(coordinate)) {
        if (!seen.get(coordinate)?.has(outcome)) missing.push(`${coordinate} ${outcome}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
