import type { RequestContext } from '../context.js';
import type { Resolvers } from '../generated/graphql.js';
import { forgetCachedReads } from '../loaders.js';
import { consentResolvers } from './consent-resolvers.js';
import { contextResolvers } from './context-resolvers.js';
import { customerResolvers } from './customer-resolvers.js';
import { DateTimeScalar } from './date-time-scalar.js';
import { auditResolvers } from './audit-resolvers.js';
import { dsarResolvers } from './dsar-resolvers.js';
import { privacyResolvers } from './privacy-resolvers.js';

/** Merges the per-type resolver maps; a field defined twice is a programming error. */
export function mergeResolvers(maps: readonly Resolvers[]): Resolvers {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const map of maps) {
    for (const [typeName, fields] of Object.entries(map)) {
      const target = (merged[typeName] ??= {});
      for (const [fieldName, resolver] of Object.entries(fields as Record<string, unknown>)) {
        if (fieldName in target) throw new Error(`resolver ${typeName}.${fieldName} is defined twice`);
        target[fieldName] = resolver;
      }
    }
  }
  return merged as Resolvers;
}

/**
 * Mutations run one after another, and each may change what the request's loaders cached for an earlier one: every
 * cache is dropped once a mutation has run, so the fields it selects (and those of the next) read what it wrote. Two
 * links in one request answered the second with the identifiers as the first had left them (a probe).
 */
export function freshAfterMutations(map: Resolvers): Resolvers {
  const mutation = map.Mutation as Record<string, (...args: unknown[]) => unknown> | undefined;
  if (!mutation) return map;
  const wrapped: Record<string, unknown> = {};
  for (const [name, resolve] of Object.entries(mutation)) {
    wrapped[name] = async (root: unknown, args: unknown, ctx: RequestContext, info: unknown) => {
      try {
        return await resolve(root, args, ctx, info);
      } finally {
        forgetCachedReads(ctx.loaders);
      }
    };
  }
  return { ...map, Mutation: wrapped } as Resolvers;
}

export const resolvers: Resolvers = freshAfterMutations(mergeResolvers([
  { DateTime: DateTimeScalar },
  customerResolvers,
  consentResolvers,
  contextResolvers,
  privacyResolvers,
  auditResolvers,
  dsarResolvers,
]));
