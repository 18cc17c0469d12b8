export const AGENT_SCOPES = [
  'customer:read',
  'pii:read',
  'pii:approve',
  'context:read',
  'fraud:read',
  'consent:read',
  'audit:read',
  'dsar:process',
] as const;
export const SERVICE_SCOPES = ['identity:resolve', 'identity:write', 'consent:write', 'context:write'] as const;
export type CallerScope = (typeof AGENT_SCOPES)[number] | (typeof SERVICE_SCOPES)[number];

/** Who is calling, from a verified token. Unknown scopes are kept but grant nothing. */
export interface Caller {
  id: string;
  /** SERVICE when the token carries service scopes only; AGENT otherwise. Recorded in audit events. */
  kind: 'AGENT' | 'SERVICE';
  scopes: ReadonlySet<string>;
}

export function hasScope(caller: Caller, scope: CallerScope): boolean {
  return caller.scopes.has(scope);
}

export function hasAnyScope(caller: Caller, scopes: readonly CallerScope[]): boolean {
  return scopes.some((s) => caller.scopes.has(s));
}

export function classifyCaller(scopes: ReadonlySet<string>): Caller['kind'] {
  const isAgent = AGENT_SCOPES.some((s) => scopes.has(s));
  const isService = SERVICE_SCOPES.some((s) => scopes.has(s));
  return isService && !isAgent ? 'SERVICE' : 'AGENT';
}
