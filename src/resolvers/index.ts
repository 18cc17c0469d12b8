import type { Resolvers } from '../generated/graphql.js';
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

export const resolvers: Resolvers = mergeResolvers([
  { DateTime: DateTimeScalar },
  customerResolvers,
  consentResolvers,
  contextResolvers,
  privacyResolvers,
  auditResolvers,
  dsarResolvers,
]);
