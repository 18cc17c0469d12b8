/** The requests the benchmark sends. One fixed body per workload: Apollo parses and validates it once. */

const BASE_FIELDS = 'id status displayName email phone country preferredLanguage createdAt consent { scopes }';
const CONTEXT_FIELD = 'context { customerId generatedAt }';

/** 10 fields (9 when `context` is switched off because it does not resolve yet), masked PII included. */
export function entitiesQuery(withContext: boolean): string {
  const fields = withContext ? `${BASE_FIELDS} ${CONTEXT_FIELD}` : BASE_FIELDS;
  return `query CustomerEntities($representations: [_Any!]!) { _entities(representations: $representations) { ... on Customer { ${fields} } } }`;
}

export const EMAIL_QUERY =
  'query CustomerEmails($representations: [_Any!]!) { _entities(representations: $representations) { ... on Customer { id email } } }';

export function representationsOf(ids: readonly string[]): Array<{ __typename: 'Customer'; id: string }> {
  return ids.map((id) => ({ __typename: 'Customer', id }));
}

export function graphqlBody(query: string, variables: Record<string, unknown>): string {
  const operationName = /^(?:query|mutation)\s+(\w+)/.exec(query)?.[1];
  return JSON.stringify({ query, operationName, variables });
}

export function entitiesBody(ids: readonly string[], withContext: boolean): string {
  return graphqlBody(entitiesQuery(withContext), { representations: representationsOf(ids) });
}

/** `count` representations cycling through `ids` (duplicates when count > ids.length). */
export function pickIds(ids: readonly string[], count: number, distinct = count): string[] {
  const pool = ids.slice(0, Math.min(distinct, ids.length));
  if (pool.length === 0) throw new Error('no customer ids to pick from');
  return Array.from({ length: count }, (_v, i) => pool[i % pool.length] as string);
}

export interface Workload {
  name: string;
  description: string;
  /** Several bodies: the load generator cycles through them, each connection from its own offset. */
  body: string | string[];
  /** Who sends it: a key of the runner's token table. */
  caller: 'agent' | 'auditedAgent' | 'maskedAgent' | 'none';
  representations: number;
}
