import type { CallerScope } from '../auth/caller.js';
import type { RequestContext } from '../context.js';
import type { PiiField } from '../customers/customer-types.js';
import type { ForbiddenReason } from '../errors.js';
import type { ActiveAccess } from '../privacy-requests/grant-store.js';
import { SUBJECT_OF, type FieldRule } from './policy-table.js';

export type Decision =
  | { outcome: 'full' }
  | { outcome: 'clear'; access: ActiveAccess }
  | { outcome: 'masked' }
  | { outcome: 'withheld'; reason: ForbiddenReason };

/** Observes one policy decision: metrics in production; the test that proves every rule fires. */
export type DecisionObserver = (coordinate: string, decision: Decision, ctx: RequestContext) => void;

export const FULL: Decision = Object.freeze({ outcome: 'full' });
export const MASKED: Decision = Object.freeze({ outcome: 'masked' });
const MISSING_SCOPE: Decision = Object.freeze({ outcome: 'withheld', reason: 'MISSING_SCOPE' });
const CONSENT_REQUIRED: Decision = Object.freeze({ outcome: 'withheld', reason: 'CONSENT_REQUIRED' });
const ELEVATION_REQUIRED: Decision = Object.freeze({ outcome: 'withheld', reason: 'ELEVATION_REQUIRED' });

type ScopedRule = Extract<FieldRule, { kind: 'scoped' }>;
type PiiRule = Extract<FieldRule, { kind: 'pii' }>;

// Markers for "the scopes alone do not settle it": frozen singletons, so the hot path allocates nothing.
const NEEDS_CONSENT = Object.freeze({ needs: 'consent' as const });
const NEEDS_GRANT = Object.freeze({ needs: 'grant' as const });

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

// The three steps below are the whole policy. decide() (per request) and
// decideForFacts() (docs, tests) both run exactly these, so what docs/POLICY.md
// states is what the server does.

function decideScopedByScopes(rule: ScopedRule, scopes: ReadonlySet<string>): Decision | typeof NEEDS_CONSENT {
  if (!hasAny(scopes, rule.scopes)) return MISSING_SCOPE;
  if (rule.allScopes && !hasAll(scopes, rule.allScopes)) return MISSING_SCOPE;
  return rule.consent ? NEEDS_CONSENT : FULL;
}

function decideByConsent(rule: ScopedRule, consentScopes: readonly string[]): Decision {
  return rule.consent === undefined || consentScopes.includes(rule.consent) ? FULL : CONSENT_REQUIRED;
}

function decidePiiByScopes(rule: PiiRule, scopes: ReadonlySet<string>, isErased: boolean): Decision | typeof NEEDS_GRANT {
  // An erased customer has nothing left to reveal: never a clear read, no audit event. Its fields are null (its masks
  // are gone) for whoever may see them masked. `pii:read` alone goes the way it goes for an active customer, through
  // the grant lookup to ELEVATION_REQUIRED (no grant outlives an erasure): a null without an error told a caller who may
  // not read `status` which customers were erased (a probe), and so did an error decided at once, ahead of those
  // that waited for the lookup (a regression probe read it from the errors' order).
  if (isErased && hasAny(scopes, rule.scopes)) return MASKED;
  if (!scopes.has('pii:read')) return hasAny(scopes, rule.scopes) ? MASKED : MISSING_SCOPE;
  return NEEDS_GRANT;
}

function decideByGrant(rule: PiiRule, scopes: ReadonlySet<string>, access: ActiveAccess | undefined, isErased: boolean): Decision {
  if (access && !isErased) return { outcome: 'clear', access };
  return hasAny(scopes, rule.scopes) ? MASKED : ELEVATION_REQUIRED;
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
      const byScopes = decideScopedByScopes(rule, scopes);
      if (!('needs' in byScopes)) return byScopes;
      return ctx.loaders.consentStateByCustomer.load(subjectOf(typeName, parent)).then((state) => decideByConsent(rule, state.scopes));
    }
    case 'pii': {
      const isErased = (parent as { status?: string }).status === 'ERASED';
      const byScopes = decidePiiByScopes(rule, scopes, isErased);
      if (!('needs' in byScopes)) return byScopes;
      const field = rule.pii;
      return ctx.loaders.activeAccessByCustomer.load(subjectOf(typeName, parent)).then((access) => decideByGrant(rule, scopes, access[field], isErased));
    }
  }
}

/** What decide() answers for a caller and a customer described by plain facts. Pure; for docs and tests. */
export interface PolicyFacts {
  scopes: readonly string[];
  /** The customer's effective consent scopes. */
  consent: readonly string[];
  /** PII fields for which the caller holds an approved, unexpired grant for this customer. */
  grants: readonly PiiField[];
  isErased?: boolean;
}

export function decideForFacts(rule: FieldRule, facts: PolicyFacts): Decision {
  const scopes = new Set(facts.scopes);
  switch (rule.kind) {
    case 'open':
      return FULL;
    case 'scoped': {
      const byScopes = decideScopedByScopes(rule, scopes);
      return 'needs' in byScopes ? decideByConsent(rule, facts.consent) : byScopes;
    }
    case 'pii': {
      const byScopes = decidePiiByScopes(rule, scopes, facts.isErased === true);
      if (!('needs' in byScopes)) return byScopes;
      const access: ActiveAccess | undefined = facts.grants.includes(rule.pii) ? { grantId: 'grt_facts', justification: '', expiresAt: Number.MAX_SAFE_INTEGER } : undefined;
      return decideByGrant(rule, scopes, access, facts.isErased === true);
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
      return `Not authorised to ${coordinate.startsWith('Mutation.') ? 'call' : 'read'} ${coordinate}: a required scope is missing`;
    case 'CONSENT_REQUIRED':
      return `${coordinate} needs the customer's consent, which is not on record`;
    case 'ELEVATION_REQUIRED':
      return `${coordinate} needs an approved PII access grant for this customer`;
  }
}
