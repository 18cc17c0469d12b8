import {
  defaultFieldResolver,
  getArgumentValues,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  isUnionType,
  Kind,
  type FieldNode,
  type GraphQLField,
  type GraphQLFieldResolver,
  type GraphQLNamedType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { CONSENT_HISTORY_SHOWN, CONSENT_SCOPES } from '../consent/consent-types.js';
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX } from '../audit/audit-trail-service.js';
import { MAX_IDENTIFIERS_PER_CUSTOMER, PII_FIELDS } from '../customers/customer-types.js';
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
 * What one request's `_entities` may ask for in all: each representation times the weight of its selection (a field
 * 1, and 1 more per 24 characters of an alias; a list field its bound times what each item selects). The same id 1,550 times with three aliases of
 * `consentHistory` made a 169 MB answer and blocked the process for 8.5 s; ten aliases, 26 s (a regression probe).
 * A console page of 500 customers with their masked attributes, consent and context weighs about 10,000; the whole
 * consent history of 190 customers (100 receipts each at most) about 250,000.
 */
export const MAX_ENTITY_WEIGHT_PER_REQUEST = 250_000;

/** The most items a list field under an entity is counted for: its own bound where it has one. */
function listBounds(contextItems: number): Readonly<Record<string, number>> {
  return {
    'Customer.consentHistory': CONSENT_HISTORY_SHOWN,
    'Consent.scopes': CONSENT_SCOPES.length,
    'ConsentState.scopes': CONSENT_SCOPES.length,
    'AuditEvent.fields': PII_FIELDS.length,
    // Bounded by the links a customer may hold; counted at 20 while it had no bound, and 200 CRM ids linked to one
    // customer made 1,500 representations of it an 87 MB answer under the weight limit (a probe).
    'Customer.identifiers': MAX_IDENTIFIERS_PER_CUSTOMER,
    // A page of `auditTrail`: its `first` (selectionWeight reads it), at most AUDIT_PAGE_MAX.
    'AuditEventConnection.edges': AUDIT_PAGE_MAX,
    'ContextSnapshot.openTickets': contextItems, // SNAPSHOT_RECENT_ITEMS
    'ContextSnapshot.activeSubscriptions': contextItems,
    'ContextSnapshot.recentTransactions': contextItems,
    'ContextSnapshot.lastInteractions': contextItems,
  };
}
const OTHER_LIST_BOUND = 20;

/**
 * Refuses every `_entities` of a request whose selections of it pass more than MAX_ENTITY_REPRESENTATIONS_PER_REQUEST
 * representations in all, or weigh more than MAX_ENTITY_WEIGHT_PER_REQUEST, before any is resolved or checked
 * (QUERY_TOO_COMPLEX, `limit: entityRepresentations` or `entityWeight`). Applied outermost, around the entity reach
 * check, so that refusing costs as little as answering.
 */
export function guardEntityBudget(schema: GraphQLSchema, { contextItems = 50 }: { contextItems?: number | undefined } = {}): GraphQLSchema {
  const bounds = listBounds(contextItems);
  const field = schema.getQueryType()?.getFields()['_entities'];
  if (!field) throw new Error('the schema has no _entities field: not a subgraph schema');
  const resolve = (field.resolve ?? defaultFieldResolver) as GraphQLFieldResolver<unknown, unknown>;
  // Per request (its context object): counted once, at the first `_entities` that runs.
  const counted = new WeakMap<object, OperationLimitError | null>();
  field.resolve = (source, args, context, info) => {
    const key = typeof context === 'object' && context !== null ? context : info.operation;
    let refusal = counted.get(key);
    if (refusal === undefined) {
      const { representations, weight } = entityDemand(info, bounds, info.operation.selectionSet, new Set());
      refusal =
        representations > MAX_ENTITY_REPRESENTATIONS_PER_REQUEST
          ? new OperationLimitError('entityRepresentations', MAX_ENTITY_REPRESENTATIONS_PER_REQUEST, null)
          : weight > MAX_ENTITY_WEIGHT_PER_REQUEST
            ? new OperationLimitError('entityWeight', MAX_ENTITY_WEIGHT_PER_REQUEST, null)
            : null;
      counted.set(key, refusal);
    }
    if (refusal) throw refusal;
    return resolve(source, args, context, info);
  };
  return schema;
}

/**
 * Representations of every root `_entities` selection, and their weight, through fragments (a fragment once per spread
 * path; selections GraphQL would merge or skip count too: at least what runs).
 */
function entityDemand(
  info: GraphQLResolveInfo,
  bounds: Readonly<Record<string, number>>,
  selectionSet: SelectionSetNode,
  visiting: Set<string>,
): { representations: number; weight: number } {
  const demand = { representations: 0, weight: 0 };
  const add = (more: { representations: number; weight: number }) => {
    demand.representations += more.representations;
    demand.weight += more.weight;
  };
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value !== '_entities') continue;
      const argument = selection.arguments?.find((a) => a.name.value === 'representations')?.value;
      const value = argument?.kind === Kind.VARIABLE ? info.variableValues[argument.name.value] : undefined;
      // A list, or one item that GraphQL reads as a list of one.
      const count = argument?.kind === Kind.LIST ? argument.values.length : Array.isArray(value) ? value.length : argument === undefined || argument.kind === Kind.NULL || (argument.kind === Kind.VARIABLE && value == null) ? 0 : 1;
      const entity = info.schema.getType('_Entity');
      add({ representations: count, weight: count * (1 + (selection.selectionSet && entity ? selectionWeight(info, bounds, entity, selection.selectionSet, new Set()) : 0)) });
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      add(entityDemand(info, bounds, selection.selectionSet, visiting));
    } else {
      const name = selection.name.value;
      const fragment = info.fragments[name];
      // A fragment cycle is a validation error; never followed twice on one path.
      if (!fragment || visiting.has(name)) continue;
      visiting.add(name);
      add(entityDemand(info, bounds, fragment.selectionSet, visiting));
      visiting.delete(name);
    }
  }
  return demand;
}

/** What one item of `type` selects: 1 a field, plus, for a list field, its bound times what each of its items selects. */
function selectionWeight(
  info: GraphQLResolveInfo,
  bounds: Readonly<Record<string, number>>,
  type: GraphQLNamedType,
  selectionSet: SelectionSetNode,
  visiting: Set<string>,
): number {
  let weight = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      weight += nameWeight(selection);
      const fields = isObjectType(type) || isInterfaceType(type) ? type.getFields() : {};
      const definition = fields[selection.name.value];
      if (!definition) continue;
      const bound = isListType(getNullableType(definition.type)) ? (bounds[`${type.name}.${selection.name.value}`] ?? OTHER_LIST_BOUND) : 1;
      // A page of the audit trail holds `first` edges, written in the query or passed as a variable (counted at 20,
      // pages of 200 made 1,550 representations of one customer an 87 MB answer under the weight limit; a probe).
      const inner = type.name === 'Customer' && selection.name.value === 'auditTrail' ? { ...bounds, 'AuditEventConnection.edges': auditPageSize(definition, selection, info) } : bounds;
      const each = selection.selectionSet ? selectionWeight(info, inner, getNamedType(definition.type), selection.selectionSet, visiting) : 0;
      weight += bound * each + (bound > 1 && !selection.selectionSet ? bound : 0);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const condition = selection.typeCondition ? info.schema.getType(selection.typeCondition.name.value) : type;
      if (condition) weight += selectionWeight(info, bounds, condition, selection.selectionSet, visiting);
    } else {
      const name = selection.name.value;
      const fragment = info.fragments[name];
      const condition = fragment ? info.schema.getType(fragment.typeCondition.name.value) : undefined;
      if (!fragment || !condition || visiting.has(name)) continue;
      visiting.add(name);
      weight += selectionWeight(info, bounds, condition, fragment.selectionSet, visiting);
      visiting.delete(name);
    }
  }
  return weight;
}

/**
 * A field's own weight: 1, and 1 more for every RESPONSE_NAME_STEP characters of the name it answers under. Every name
 * the schema has is shorter than that; an alias may not be: 300 aliases of 150 characters over 700 representations
 * made a 35 MB answer from a 95 KB request, weighing 1 each (a probe).
 */
function nameWeight(selection: FieldNode): number {
  return 1 + Math.floor((selection.alias?.value ?? selection.name.value).length / RESPONSE_NAME_STEP);
}
const RESPONSE_NAME_STEP = 24;

/** The `first` of an `auditTrail` selection as it will run (default, literal or variable), within the page bounds. */
function auditPageSize(definition: GraphQLField<unknown, unknown>, selection: FieldNode, info: GraphQLResolveInfo): number {
  try {
    const first = getArgumentValues(definition, selection, info.variableValues)['first'];
    return typeof first === 'number' ? Math.min(Math.max(first, 0), AUDIT_PAGE_MAX) : AUDIT_PAGE_DEFAULT;
  } catch {
    // Arguments the resolver will refuse anyway.
    return AUDIT_PAGE_MAX;
  }
}
