import { defaultFieldResolver, isUnionType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
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
