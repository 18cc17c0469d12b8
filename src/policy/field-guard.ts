import { defaultFieldResolver, isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { RequestContext } from '../context.js';
import type { PiiField } from '../customers/customer-types.js';
import { resolvedCallOf } from '../customers/resolved-call.js';
import { ForbiddenError } from '../errors.js';
import { decide, describeWithheld, type Decision, type DecisionObserver } from './policy-decision.js';
import { FIELD_POLICY, type FieldRule } from './policy-table.js';
import { denyUnlisted } from './shield-rules.js';

export interface FieldGuardOptions {
  table?: Record<string, Record<string, FieldRule>>;
  /** Types whose fields are left alone (the root types, which shield guards). */
  skipTypes?: readonly string[];
  onDecision?: DecisionObserver;
  /**
   * Also wrap `open` fields so that onDecision sees them. Off by default: an
   * open field has nothing to decide, and production metrics only count
   * masked, clear and withheld reads, so open fields stay unwrapped.
   */
  observeOpenFields?: boolean;
}

type Resolver = GraphQLFieldResolver<unknown, RequestContext>;

/**
 * Wraps every object field, default resolvers included, with its rule from the
 * table. The wrapper is synchronous whenever the decision is (scope checks),
 * so graphql-js keeps its fast path; only consent and grant checks return a
 * promise. Outcomes: full -> the resolver; masked -> the resolver (which
 * returns the precomputed mask); clear -> the audited clear-text read;
 * withheld -> null with a FORBIDDEN error carrying the reason and the path.
 * A field the table does not name is withheld (deny by default).
 */
export function applyFieldGuards(schema: GraphQLSchema, options: FieldGuardOptions = {}): GraphQLSchema {
  const table = options.table ?? FIELD_POLICY;
  const skip = new Set(options.skipTypes ?? []);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || skip.has(type.name)) continue;
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      const fieldRule = table[type.name]?.[field.name];
      const resolve = (field.resolve ?? defaultFieldResolver) as Resolver;
      field.resolve = fieldRule ? guard(type.name, coordinate, fieldRule, resolve, options) : denyAll(coordinate);
    }
  }
  return schema;
}

function denyAll(coordinate: string): Resolver {
  return () => {
    throw denyUnlisted(coordinate);
  };
}

function guard(typeName: string, coordinate: string, fieldRule: FieldRule, resolve: Resolver, options: FieldGuardOptions): Resolver {
  const onDecision = options.onDecision;
  // Open fields are reached only through checked fields: no wrapper at all, unless a test is watching.
  if (fieldRule.kind === 'open' && !(onDecision && options.observeOpenFields)) return resolve;
  const piiField: PiiField | null = fieldRule.kind === 'pii' ? fieldRule.pii : null;

  const apply = (decision: Decision, parent: unknown, args: Record<string, unknown>, ctx: RequestContext, info: Parameters<Resolver>[3]): unknown => {
    onDecision?.(coordinate, decision, ctx);
    switch (decision.outcome) {
      case 'full':
      case 'masked':
        return resolve(parent, args, ctx, info);
      case 'clear':
        return ctx.loaders.clearPii.load({ customerId: (parent as { id: string }).id, field: piiField as PiiField, access: decision.access, call: resolvedCallOf(parent) });
      case 'withheld':
        throw new ForbiddenError(decision.reason, describeWithheld(decision.reason, coordinate), { coordinate });
    }
  };

  return (parent, args, ctx, info) => {
    const decision = decide(fieldRule, typeName, parent, ctx);
    return decision instanceof Promise ? decision.then((d) => apply(d, parent, args, ctx, info)) : apply(decision, parent, args, ctx, info);
  };
}
