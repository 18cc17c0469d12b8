import { defaultFieldResolver, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { hasAnyScope, type CallerScope } from '../auth/caller.js';
import type { RequestContext } from '../context.js';
import { ForbiddenError } from '../errors.js';
import { assertEntityRepresentations, entityTypesOf } from '../hardening/entity-representations.js';
import { ENTITY_REACH, type TypePolicy } from './policy-table.js';

export { entityTypesOf };

/**
 * The scopes a field rule of the type answers to, from the policy table: its
 * scopes, and `pii:read` for a personal field (whose holder without the
 * reading scope is told ELEVATION_REQUIRED, field by field); null when a field
 * of the type is open to every valid token. A type `narrower` names (ENTITY_REACH) takes the scopes it gives.
 */
export function entityReachScopes(
  table: Record<string, TypePolicy>,
  entityTypes: readonly string[],
  narrower: Readonly<Record<string, readonly CallerScope[]>> = ENTITY_REACH,
): Map<string, readonly CallerScope[] | null> {
  const reach = new Map<string, readonly CallerScope[] | null>();
  for (const typeName of entityTypes) {
    const given = narrower[typeName];
    if (given) {
      reach.set(typeName, [...given].sort());
      continue;
    }
    const rules = Object.values(table[typeName] ?? {});
    const scopes = rules.flatMap((r): CallerScope[] => (r.kind === 'open' ? [] : r.kind === 'pii' ? [...r.scopes, 'pii:read'] : [...r.scopes]));
    reach.set(typeName, rules.some((r) => r.kind === 'open') ? null : [...new Set(scopes)].sort());
  }
  return reach;
}

/**
 * `_entities` hands out an entity only to a caller with a scope that some
 * field rule of its type answers to (see entityReachScopes); any other caller gets FORBIDDEN (MISSING_SCOPE) at the
 * representation's position, whether or not the id exists. Without this a
 * valid token with no scope could select `__typename` (always allowed) and
 * learn which ids exist. Applied with the field policy, and not when the
 * policy is switched off (bench only).
 */
export function applyEntityReach(schema: GraphQLSchema, table: Record<string, TypePolicy>): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()['_entities'];
  if (!field) throw new Error('the schema has no _entities field: not a subgraph schema');
  const entityTypes = entityTypesOf(schema);
  const reach = entityReachScopes(table, entityTypes);
  const known = new Set(entityTypes);
  const resolve = (field.resolve ?? defaultFieldResolver) as GraphQLFieldResolver<unknown, RequestContext>;
  field.resolve = (source, args: { representations?: unknown }, ctx, info) => {
    const representations: unknown[] = Array.isArray(args.representations) ? args.representations : [];
    const refusals = representations.map((representation) => {
      const typeName = typeof representation === 'object' && representation !== null ? (representation as { __typename?: unknown }).__typename : undefined;
      const scopes = typeof typeName === 'string' ? reach.get(typeName) : undefined;
      // Not an entity of this subgraph: BAD_USER_INPUT for the whole call (assertEntityRepresentations).
      if (scopes === undefined || scopes === null || hasAnyScope(ctx.caller, scopes)) return null;
      return new ForbiddenError('MISSING_SCOPE', `Reaching ${/^[AEIOU]/.test(String(typeName)) ? 'an' : 'a'} ${String(typeName)} needs one of: ${scopes.join(', ')}`);
    });
    if (refusals.every((r) => r === null)) return resolve(source, args, ctx, info);
    assertEntityRepresentations(representations, known);
    // Only the representations the caller may reach are resolved; an Error in a list is that item's error.
    const allowed = representations.filter((_r, i) => refusals[i] === null);
    const merge = (resolved: unknown[]) => {
      let next = 0;
      return refusals.map((refusal) => refusal ?? resolved[next++]);
    };
    const result = resolve(source, { ...args, representations: allowed }, ctx, info) as unknown[] | Promise<unknown[]>;
    return result instanceof Promise ? result.then(merge) : merge(result);
  };
  return schema;
}
