import { and, rule, shield, type IRule, type IRules } from 'graphql-shield';
import { applyMiddleware } from 'graphql-middleware';
import { isObjectType, type GraphQLSchema } from 'graphql';
import type { RequestContext } from '../context.js';
import { ForbiddenError } from '../errors.js';
import { decide, describeWithheld, readsParent } from './policy-decision.js';
import { FIELD_POLICY, type FieldRule } from './policy-table.js';

const ROOT_TYPES = ['Query', 'Mutation'] as const;

/** A field the table does not name is withheld, with or without shield in front. */
export function denyUnlisted(coordinate: string): ForbiddenError {
  return new ForbiddenError('MISSING_SCOPE', `${coordinate} is not covered by the field policy and is withheld`);
}

const denyRule = rule('policy:deny-unlisted', { cache: 'no_cache' })((_parent, _args, _ctx, info) =>
  denyUnlisted(`${info.parentType.name}.${info.fieldName}`),
);

/**
 * Compiles the policy table into graphql-shield rules: one rule object per
 * distinct requirement (shield needs unique names, and reusing objects lets
 * its contextual cache answer a scope question once per request). Rules that
 * read the customer (consent, grants) never share a cache across parents.
 */
export function compileShieldRules(table: Record<string, Record<string, FieldRule>> = FIELD_POLICY): IRules {
  const byKey = new Map<string, IRule>();
  const tree: Record<string, Record<string, IRule>> = {};
  for (const [typeName, fields] of Object.entries(table)) {
    tree[typeName] = {};
    for (const [fieldName, fieldRule] of Object.entries(fields)) {
      const key = `${readsParent(fieldRule) ? typeName : '*'}:${JSON.stringify(fieldRule)}`;
      let compiled = byKey.get(key);
      if (!compiled) {
        compiled = rule(`policy:${byKey.size}:${describeRule(fieldRule)}`, { cache: readsParent(fieldRule) ? 'no_cache' : 'contextual' })(
          async (parent, _args, ctx: RequestContext, info) => {
            const decision = await decide(fieldRule, info.parentType.name, parent, ctx);
            if (decision.outcome !== 'withheld') return true;
            return new ForbiddenError(decision.reason, describeWithheld(decision.reason, `${info.parentType.name}.${info.fieldName}`));
          },
        );
        byKey.set(key, compiled);
      }
      tree[typeName][fieldName] = compiled;
    }
  }
  return tree as IRules;
}

function describeRule(r: FieldRule): string {
  if (r.kind === 'open') return 'open';
  if (r.kind === 'pii') return `pii(${r.pii}):${r.scopes.join('|')}`;
  return [r.scopes.join('|'), r.allScopes?.join('&'), r.consent ? `consent(${r.consent})` : ''].filter(Boolean).join('+');
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

/** Reference engine: graphql-shield on every field, as its README would apply it. Used by tests and the benchmark to compare. */
export function applyShieldToAllFields(schema: GraphQLSchema, rules: IRules = compileShieldRules()): GraphQLSchema {
  return applyMiddleware(schema, shieldFor(rules));
}

export function listPolicyCoordinates(schema: GraphQLSchema): string[] {
  const coordinates: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const fieldName of Object.keys(type.getFields())) coordinates.push(`${type.name}.${fieldName}`);
  }
  return coordinates.sort();
}
