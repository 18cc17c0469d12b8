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
import { CONSENT_HISTORY_SHOWN, CONSENT_SCOPES, MAX_SOURCE_LENGTH } from '../consent/consent-types.js';
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX } from '../audit/audit-trail-service.js';
import { MAX_DISPLAY_NAME_LENGTH, MAX_IDENTIFIERS_PER_CUSTOMER, MAX_INTERACTION_ID_LENGTH, PII_FIELDS } from '../customers/customer-types.js';
import { MAX_SUBJECT_LENGTH } from '../auth/token-verifier.js';
import { MAX_EMAIL_LENGTH } from '../identity/normalise-identifier.js';
import { MAX_JUSTIFICATION } from '../privacy-requests/grant-types.js';
import { SUPPORT_LIMITS } from '../support-records/support-record-validation.js';
import { lookupRule } from '../policy/policy-table.js';
import { requiredScopesOf } from '../policy/router-directives.js';
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
 * 1, and 1 more per 24 characters of its alias and of the longest text it can hold, or an error's worth when it will
 * be refused; a list field its bound times what each item selects: see selectionWeight). The same id 1,550 times with
 * three aliases of `consentHistory` made a 169 MB answer and blocked the process for 8.5 s; ten aliases, 26 s (a
 * regression probe).
 * A console page of 500 customers with their masked attributes, consent and context weighs about 20,000; the whole
 * consent history of 166 customers (100 receipts each at most) about 250,000.
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
      const scopes = (context as { caller?: { scopes?: ReadonlySet<string> } } | null)?.caller?.scopes ?? null;
      const { representations, weight } = entityDemand({ info, bounds, scopes }, info.operation.selectionSet, new Set());
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
function entityDemand(weighing: Weighing, selectionSet: SelectionSetNode, visiting: Set<string>): { representations: number; weight: number } {
  const { info } = weighing;
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
      add({ representations: count, weight: count * (1 + (selection.selectionSet && entity ? selectionWeight(weighing, entity, selection.selectionSet, new Set()) : 0)) });
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      add(entityDemand(weighing, selection.selectionSet, visiting));
    } else {
      const name = selection.name.value;
      const fragment = info.fragments[name];
      // A fragment cycle is a validation error; never followed twice on one path.
      if (!fragment || visiting.has(name)) continue;
      visiting.add(name);
      add(entityDemand(weighing, fragment.selectionSet, visiting));
      visiting.delete(name);
    }
  }
  return demand;
}

/** What a request's selections are weighed with: the operation, the list bounds, and the caller's scopes (null: unknown). */
interface Weighing {
  info: GraphQLResolveInfo;
  bounds: Readonly<Record<string, number>>;
  scopes: ReadonlySet<string> | null;
}

/**
 * What one item of `type` selects: a field its name's weight and its value's, or an error's when the caller's scopes
 * withhold it; plus, for a list field, its bound times what each of its items selects.
 */
function selectionWeight(weighing: Weighing, type: GraphQLNamedType, selectionSet: SelectionSetNode, visiting: Set<string>): number {
  const { info, scopes } = weighing;
  let weight = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      weight += nameWeight(selection);
      // Withheld for want of a scope: an error of its own (about 250 bytes and the work to build it) instead of the
      // value, whatever it selects. 29 aliases of `context` over 1,500 representations, with customer:read only,
      // weighed 88,500 and made 43,500 errors in 9 s (a regression probe).
      if (scopes !== null && isWithheldByScope(type.name, selection.name.value, scopes)) {
        weight += WITHHELD_WEIGHT;
        continue;
      }
      weight += valueWeight(type.name, selection.name.value);
      const fields = isObjectType(type) || isInterfaceType(type) ? type.getFields() : {};
      const definition = fields[selection.name.value];
      if (!definition) continue;
      const bounds = weighing.bounds;
      const bound = isListType(getNullableType(definition.type)) ? (bounds[`${type.name}.${selection.name.value}`] ?? OTHER_LIST_BOUND) : 1;
      // A page of the audit trail holds `first` edges, written in the query or passed as a variable (counted at 20,
      // pages of 200 made 1,550 representations of one customer an 87 MB answer under the weight limit; a probe).
      const inner = type.name === 'Customer' && selection.name.value === 'auditTrail' ? { ...weighing, bounds: { ...bounds, 'AuditEventConnection.edges': auditPageSize(definition, selection, info) } } : weighing;
      const each = selection.selectionSet ? selectionWeight(inner, getNamedType(definition.type), selection.selectionSet, visiting) : 0;
      // A field with arguments the resolver may refuse (an audit page's cursor, size or range) answers an error of its
      // own at the least: 31 selections of `auditTrail(after: "!") { __typename }` over 1,550 representations weighed
      // 2 each and made 48,050 errors in 3 s (a regression probe).
      weight += Math.max(bound * each + (bound > 1 && !selection.selectionSet ? bound : 0), definition.args.length > 0 ? WITHHELD_WEIGHT : 0);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const condition = selection.typeCondition ? info.schema.getType(selection.typeCondition.name.value) : type;
      if (condition) weight += selectionWeight(weighing, condition, selection.selectionSet, visiting);
    } else {
      const name = selection.name.value;
      const fragment = info.fragments[name];
      const condition = fragment ? info.schema.getType(fragment.typeCondition.name.value) : undefined;
      if (!fragment || !condition || visiting.has(name)) continue;
      visiting.add(name);
      weight += selectionWeight(weighing, condition, fragment.selectionSet, visiting);
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

/**
 * The longest text of the String fields that can hold 48 characters or more: each weighs 1 more per
 * RESPONSE_NAME_STEP characters of it. 29 aliases of `summary` (500 characters) over 1,500 representations of one
 * customer weighed 222,000, as short values do, and made a 109 MB answer from a 96 KB request; then aliases of an
 * audit event's `details` 148 MB from 3.5 KB, and of a 64-character consent `source` 23 MB (regression probes).
 */
const LONG_TEXT: Readonly<Record<string, number>> = {
  'Customer.displayName': MAX_DISPLAY_NAME_LENGTH,
  'Customer.email': MAX_EMAIL_LENGTH,
  // A BCP 47 tag: ICU takes up to 20 variants of 8 letters, about 190 characters (a regression probe).
  'Customer.preferredLanguage': 190,
  'Consent.source': MAX_SOURCE_LENGTH,
  'ContextSnapshot.deviceFingerprint': SUPPORT_LIMITS.fingerprintMaxLength,
  'TicketSummary.id': SUPPORT_LIMITS.recordIdLength,
  'TicketSummary.subject': SUPPORT_LIMITS.subjectLength,
  'SubscriptionSummary.id': SUPPORT_LIMITS.recordIdLength,
  'SubscriptionSummary.plan': SUPPORT_LIMITS.planLength,
  'TransactionSummary.id': SUPPORT_LIMITS.recordIdLength,
  'TransactionSummary.description': SUPPORT_LIMITS.descriptionLength,
  'InteractionSummary.id': SUPPORT_LIMITS.recordIdLength,
  'InteractionSummary.summary': SUPPORT_LIMITS.summaryLength,
  'InteractionSummary.outcome': SUPPORT_LIMITS.outcomeLength,
  // A clear read under grants with different reasons joins them (one per field).
  'AuditEvent.justification': MAX_JUSTIFICATION * PII_FIELDS.length,
  'AuditEvent.interactionId': MAX_INTERACTION_ID_LENGTH,
  'AuditEvent.requestId': 64,
  'AuditEvent.hash': 64,
  'AuditEvent.prevHash': 64,
  // JSON of the event's details: a grant's requester and approver (subjects of up to 256 characters), its ids and
  // times, about 620 characters at most; a consent change's scopes, a clear read's grant ids and fields.
  'AuditEvent.details': 2 * MAX_SUBJECT_LENGTH + 256,
  'AuditActor.id': MAX_SUBJECT_LENGTH,
};

function valueWeight(typeName: string, fieldName: string): number {
  return Math.floor((LONG_TEXT[`${typeName}.${fieldName}`] ?? 0) / RESPONSE_NAME_STEP);
}

/**
 * An error entry: message, path, code and reason, about 250 bytes, and about 0.2 ms to build and format, some 40 times
 * a plain field. At 10, 14 aliases of a withheld `email` over 1,500 representations still made 21,000 errors in 3.6-4.4 s
 * (a regression probe); at 40 the limit holds a request to about 6,000 of them.
 */
const WITHHELD_WEIGHT = 40;

/**
 * Whether the field policy withholds the field from a caller with these scopes (MISSING_SCOPE), or, for a personal
 * attribute the caller may not read masked, answers an error unless a grant shows it in clear (ELEVATION_REQUIRED, or a
 * clear value of about as many bytes): 30 aliases of `phone` over 1,550 representations, by a `pii:read` token,
 * weighed 1 each and made 48,050 such errors in 5.9 s (a regression probe).
 */
function isWithheldByScope(typeName: string, fieldName: string, scopes: ReadonlySet<string>): boolean {
  const rule = lookupRule(typeName, fieldName);
  if (rule?.kind === 'pii' && !rule.scopes.some((scope) => scopes.has(scope))) return true;
  const groups = rule ? requiredScopesOf(rule) : null;
  return groups !== null && !groups.some((group) => group.every((scope) => scopes.has(scope)));
}

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
