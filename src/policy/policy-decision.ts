import type { CallerScope } from '../auth/caller.js';
import type { RequestContext } from '../context.js';
import type { ForbiddenReason } from '../errors.js';
import type { ActiveAccess } from '../privacy-requests/grant-store.js';
import { SUBJECT_OF, type FieldRule } from './policy-table.js';

export type Decision =
  | { outcome: 'full' }
  | { outcome: 'clear'; access: ActiveAccess }
  | { outcome: 'masked' }
  | { outcome: 'withheld'; reason: ForbiddenReason };

export const FULL: Decision = Object.freeze({ outcome: 'full' });
export const MASKED: Decision = Object.freeze({ outcome: 'masked' });
const MISSING_SCOPE: Decision = Object.freeze({ outcome: 'withheld', reason: 'MISSING_SCOPE' });
const CONSENT_REQUIRED: Decision = Object.freeze({ outcome: 'withheld', reason: 'CONSENT_REQUIRED' });
const ELEVATION_REQUIRED: Decision = Object.freeze({ outcome: 'withheld', reason: 'ELEVATION_REQUIRED' });

function hasAny(scopes: ReadonlySet<string>, wanted: readonly CallerScope[]): boolean {
  for (const s of wanted) if (scopes.has(s)) return true;
  return false;
}
function hasAll(scopes: ReadonlySet<string>, wanted: readonly CallerScope[]): boolean {
  for (const s of wanted) if (!scopes.has(s)) return false;
  return true;
}

/** True when the rule looks at the parent object (consent, grants): its answer differs per customer and must never be shared. */
export function readsParent(rule: FieldRule): boolean {
  return (rule.kind === 'scoped' && rule.consent !== undefined) || rule.kind === 'pii';
}

/**
 * Decides one field for one parent. Answers synchronously whenever the
 * caller's scopes settle it; only consent and grant checks wait, and they go
 * through per-request DataLoaders, so a list of 100 customers costs one
 * consent query and one Redis MGET, not 100.
 */
export function decide(rule: FieldRule, typeName: string, parent: unknown, ctx: RequestContext): Decision | Promise<Decision> {
  const scopes = ctx.caller.scopes;
  switch (rule.kind) {
    case 'open':
      return FULL;
    case 'scoped': {
      if (!hasAny(scopes, rule.scopes)) return MISSING_SCOPE;
      if (rule.allScopes && !hasAll(scopes, rule.allScopes)) return MISSING_SCOPE;
      if (!rule.consent) return FULL;
      const customerId = subjectOf(typeName, parent);
      const consent = rule.consent;
      return ctx.loaders.consentStateByCustomer
        .load(customerId)
        .then((state) => (state.scopes.includes(consent) ? FULL : CONSENT_REQUIRED));
    }
    case 'pii': {
      const canSeeMasked = hasAny(scopes, rule.scopes);
      const isErased = (parent as { status?: string }).status === 'ERASED';
      if (!scopes.has('pii:read') || isErased) return canSeeMasked ? MASKED : MISSING_SCOPE;
      const field = rule.pii;
      return ctx.loaders.activeAccessByCustomer.load(subjectOf(typeName, parent)).then((access) => {
        const grant = access[field];
        if (grant) return { outcome: 'clear', access: grant } satisfies Decision;
        return canSeeMasked ? MASKED : ELEVATION_REQUIRED;
      });
    }
  }
}

function subjectOf(typeName: string, parent: unknown): string {
  const subject = SUBJECT_OF[typeName]?.(parent);
  if (!subject) throw new Error(`policy: no customer subject for ${typeName}`);
  return subject;
}

export function describeWithheld(reason: ForbiddenReason, coordinate: string): string {
  switch (reason) {
    case 'MISSING_SCOPE':
      return `Not authorised to read ${coordinate}: a required scope is missing`;
    case 'CONSENT_REQUIRED':
      return `${coordinate} needs the customer's consent, which is not on record`;
    case 'ELEVATION_REQUIRED':
      return `${coordinate} needs an approved PII access grant for this customer`;
  }
}
