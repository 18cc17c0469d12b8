import { defaultFieldResolver, isUnionType, Kind, type GraphQLFieldResolver, type GraphQLResolveInfo, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import { OperationLimitError } from './operation-limits.js';
import { BadUserInputError } from '../errors.js';

/** The entity types of a subgraph schema (the `_Entity` union), sorted. */
export function entityTypesOf(schema: GraphQLSchema): string[] {
  const entityUnion = schema.getType('_Entity');
  if (!isUnionType(entityUnion)) throw new Error('the schema has no _Entity union: not a subgraph schema');
  return entityUnion.getTypes().map((t) => t.name).sort();
}

/**
 * `_entities` takes `[_Any!]!`, so GraphQL validation lets anything through.
 * @apollo/subgraph throws a plain Error (an INTERNAL_SERVER_ERROR, and a whole
 * batch lost) for a representation that is not an object or whose
 * `__typename` names no entity of this subgraph. This checks the batch first
 * and answers BAD_USER_INPUT naming the position; the caller's `__typename`
 * is not echoed. A representation of a known type with a missing or
 * malformed key still resolves to null, as the router expects.
 */
export function guardEntityRepresentations(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()['_entities'];
  if (!field) throw new Error('the schema has no _entities field: not a subgraph schema');
  const entityTypes = new Set(entityTypesOf(schema));
  const expected = [...entityTypes].join(', ');
  const resolve = (field.resolve ?? defaultFieldResolver) as GraphQLFieldResolver<unknown, unknown>;
  field.resolve = (source, args: { representations?: unknown }, context, info) => {
    assertEntityRepresentations(Array.isArray(args.representations) ? args.representations : [], entityTypes, expected);
    return resolve(source, args, context, info);
  };
  return schema;
}

/**
 * BAD_USER_INPUT naming the position of the first representation that is not an object of an entity type of this
 * subgraph. Also run by the entity reach check on the whole list, before it takes out what the caller may not reach:
 * checked on what was left, the position named was off (a probe).
 */
export function assertEntityRepresentations(representations: readonly unknown[], entityTypes: ReadonlySet<string>, expected = [...entityTypes].join(', ')): void {
  representations.forEach((representation, index) => {
    if (representation === null || typeof representation !== 'object' || Array.isArray(representation)) {
      throw new BadUserInputError(`representations[${index}] must be an object with __typename and the entity's key fields`, { field: 'representations' });
    }
    const typename = (representation as { __typename?: unknown }).__typename;
    if (typeof typename !== 'string' || !entityTypes.has(typename)) {
      throw new BadUserInputError(`representations[${index}].__typename must name an entity of this subgraph (${expected})`, { field: 'representations' });
    }
  });
}

/**
 * Representations one request may pass to `_entities`, over every selection of it (aliases, fragments). A router
 * sends one `_entities` per fetch; the cost rule cannot weigh one by its representations, which come in a variable:
 * 30 aliases of `_entities` over one list of 1,500 representations resolved 45,000 entities from a 100 KB request,
 * for any valid token, a scopeless one included (answers of 20-107 MB and 57,000 FORBIDDEN errors, the process
 * blocked for seconds; a probe).
 */
export const MAX_ENTITY_REPRESENTATIONS_PER_REQUEST = 2_000;

/**
 * Refuses every `_entities` of a request whose selections of it pass more than MAX_ENTITY_REPRESENTATIONS_PER_REQUEST
 * representations in all, before any is resolved or checked (QUERY_TOO_COMPLEX, `limit: entityRepresentations`).
 * Applied outermost, around the entity reach check, so that refusing costs as little as answering.
 */
export function guardEntityBudget(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()['_entities'];
  if (!field) throw new Error('the schema has no _entities field: not a subgraph schema');
  const resolve = (field.resolve ?? defaultFieldResolver) as GraphQLFieldResolver<unknown, unknown>;
  // Per request (its context object): counted once, at the first `_entities` that runs.
  const counted = new WeakMap<object, number>();
  field.resolve = (source, args, context, info) => {
    const key = typeof context === 'object' && context !== null ? context : info.operation;
    let total = counted.get(key);
    if (total === undefined) {
      total = representationsPassed(info, info.operation.selectionSet, new Set());
      counted.set(key, total);
    }
    if (total > MAX_ENTITY_REPRESENTATIONS_PER_REQUEST) throw new OperationLimitError('entityRepresentations', MAX_ENTITY_REPRESENTATIONS_PER_REQUEST, null);
    return resolve(source, args, context, info);
  };
  return schema;
}

/** Representations of every root `_entities` selection, through fragments (each fragment once per spread path). */
function representationsPassed(info: GraphQLResolveInfo, selectionSet: SelectionSetNode, visiting: Set<string>): number {
  let total = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '_entities') continue;
      const argument = selection.arguments?.find((a) => a.name.value === 'representations')?.value;
      if (argument?.kind === Kind.LIST) total += argument.values.length;
      else if (argument?.kind === Kind.VARIABLE) {
        const value = info.variableValues[argument.name.value];
        total += Array.isArray(value) ? value.length : 0;
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      total += representationsPassed(info, selection.selectionSet, visiting);
    } else {
      const name = selection.name.value;
      const fragment = info.fragments[name];
      // A fragment cycle is a validation error; never followed twice on one path.
      if (!fragment || visiting.has(name)) continue;
      visiting.add(name);
      total += representationsPassed(info, fragment.selectionSet, visiting);
      visiting.delete(name);
    }
  }
  return total;
}
