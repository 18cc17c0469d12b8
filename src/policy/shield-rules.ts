import { createRequire } from 'node:module';
import type { IRule, IRules } from 'graphql-shield';
import { isObjectType, type GraphQLSchema } from 'graphql';
import type { RequestContext } from '../context.js';
import { ForbiddenError } from '../errors.js';
import { decide, describeWithheld, readsParent, type DecisionObserver } from './policy-decision.js';
import { FIELD_POLICY, type FieldRule } from './policy-table.js';

// graphql-shield 7.6.5 (unmaintained since 2022) has an ESM build that imports
// util.isUndefined, which Node 23 removed: on Node 24 it fails to link. Its
// CommonJS build looks the function up only inside chain() and race(), which
// the policy never uses, so it works on Node 20 and 24 alike.
const requireCjs = createRequire(import.meta.url);
// graphql-middleware comes from the same (CommonJS) build, or it would not recognise shield's middleware generator.
export const { and, rule, shield } = requireCjs('graphql-shield') as typeof import('graphql-shield');
const { applyMiddleware } = requireCjs('graphql-middleware') as typeof import('graphql-middleware');

const ROOT_TYPES = ['Query', 'Mutation'] as const;

/** A field the table does not name is withheld, with or without shield in front. */
export function denyUnlisted(coordinate: string): ForbiddenError {
  return new ForbiddenError('MISSING_SCOPE', `${coordinate} is not covered by the field policy and is withheld`, { coordinate });
}

const denyRule = rule('policy:deny-unlisted', { cache: 'no_cache' })((_parent, _args, _ctx, info) =>
  denyUnlisted(`${info.parentType.name}.${info.fieldName}`),
);

export interface ShieldRuleOptions {
  onDecision?: DecisionObserver;
}

/**
 * Compiles the policy table into graphql-shield rules, one rule object per
 * field coordinate (`policy:Customer.email`): shield needs unique names, and a
 * rule's answer, once cached, is returned as is, so a rule shared between
 * fields would report the first field's name in every other field's error.
 *
 * Caching: a rule that only looks at the caller's scopes is `contextual`
 * (answered once per request and field). A rule that reads the customer
 * (consent, PII grants) is `no_cache`: shield's contextual cache is keyed by
 * rule name only, so it would hand the first customer's answer to every other
 * customer of the request (measured; see DESIGN.md). Its lookups go through
 * the per-request DataLoaders instead, which are keyed by customer.
 */
export function compileShieldRules(table: Record<string, Record<string, FieldRule>> = FIELD_POLICY, options: ShieldRuleOptions = {}): IRules {
  const tree: Record<string, Record<string, IRule>> = {};
  for (const [typeName, fields] of Object.entries(table)) {
    tree[typeName] = {};
    for (const [fieldName, fieldRule] of Object.entries(fields)) {
      tree[typeName][fieldName] = compileRule(`${typeName}.${fieldName}`, fieldRule, options.onDecision);
    }
  }
  return tree as IRules;
}

function compileRule(coordinate: string, fieldRule: FieldRule, onDecision: DecisionObserver | undefined): IRule {
  return rule(`policy:${coordinate}`, { cache: readsParent(fieldRule) ? 'no_cache' : 'contextual' })(
    async (parent, _args, ctx: RequestContext, info) => {
      let decision;
      try {
        decision = await decide(fieldRule, info.parentType.name, parent, ctx);
      } catch (error) {
        // Returned, not thrown: shield turns a thrown error into `false`, which
        // would report a store outage as a missing scope.
        return error instanceof Error ? error : new Error('policy decision failed');
      }
      onDecision?.(coordinate, decision, ctx);
      if (decision.outcome !== 'withheld') return true;
      return new ForbiddenError(decision.reason, describeWithheld(decision.reason, coordinate), { coordinate });
    },
  );
}

function shieldFor(rules: IRules) {
  return shield(rules, {
    fallbackRule: and(denyRule),
    allowExternalErrors: true,
    debug: false,
    fallbackError: (_error, _parent, _args, _ctx, info) => denyUnlisted(`${info.parentType.name}.${info.fieldName}`),
  });
}

/**
 * The production engine's shield half: graphql-shield's own middleware on the
 * root fields (a handful per request). Object fields are guarded by
 * field-guard.ts from the same table, without an async wrapper per field.
 */
export function applyShieldToRootFields(schema: GraphQLSchema, rules: IRules = compileShieldRules()): GraphQLSchema {
  const generated = shieldFor(rules).generate(schema) as Record<string, unknown>;
  const rootOnly = Object.fromEntries(ROOT_TYPES.filter((t) => t in generated).map((t) => [t, generated[t]]));
  return applyMiddleware(schema, rootOnly as Parameters<typeof applyMiddleware>[1]);
}

/**
 * Reference engine: graphql-shield on every field, as its README would apply
 * it. Allow/deny only (shield cannot mask); used by the tests that prove the
 * production engine withholds exactly what this one does, and by the benchmark.
 */
export function applyShieldToAllFields(schema: GraphQLSchema, rules: IRules = compileShieldRules()): GraphQLSchema {
  return applyMiddleware(schema, shieldFor(rules));
}

/** Every object field of a schema as `Type.field`, sorted: what the policy table must cover. */
export function listPolicyCoordinates(schema: GraphQLSchema): string[] {
  const coordinates: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const fieldName of Object.keys(type.getFields())) coordinates.push(`${type.name}.${fieldName}`);
  }
  return coordinates.sort();
}
