import type { PiiField } from '../customers/customer-types.js';
import { maskDisplayName, maskEmail, maskPhone } from './masks.js';
import { decideForFacts, type Decision, type PolicyFacts } from './policy-decision.js';
import { entityReachScopes } from './entity-reach.js';
import { CONSENT_HISTORY_READ, type FieldRule } from './policy-table.js';
import { printRequiresScopes, requiredScopesOf } from './router-directives.js';

export interface PolicyDocsInput {
  table: Record<string, Record<string, FieldRule>>;
  /** Every object field of the built schema (`listPolicyCoordinates`), to report what the table misses. */
  schemaCoordinates: readonly string[];
  /** The schema's entity types (`entityTypesOf`): who may reach each through `_entities`. */
  entityTypes: readonly string[];
  grantTtl: { defaultSeconds: number; maxSeconds: number };
  maxJustificationLength: number;
}

/** Representative callers for the "who sees what" tables. Each cell is decideForFacts(), the same steps the server runs. */
const PERSONAS: ReadonlyArray<{ label: string; facts: PolicyFacts }> = [
  { label: 'no scopes', facts: { scopes: [], consent: ['support_context'], grants: [] } },
  { label: '`customer:read`', facts: { scopes: ['customer:read'], consent: ['support_context'], grants: [] } },
  { label: '`customer:read` `pii:read`, no grant', facts: { scopes: ['customer:read', 'pii:read'], consent: ['support_context'], grants: [] } },
  { label: '`customer:read` `pii:read` + grant', facts: { scopes: ['customer:read', 'pii:read'], consent: ['support_context'], grants: ['DISPLAY_NAME', 'EMAIL', 'PHONE'] } },
  { label: '`pii:read` alone, no grant', facts: { scopes: ['pii:read'], consent: ['support_context'], grants: [] } },
  { label: '`identity:resolve`', facts: { scopes: ['identity:resolve'], consent: ['support_context'], grants: [] } },
  { label: '`consent:read`', facts: { scopes: ['consent:read'], consent: ['support_context'], grants: [] } },
  { label: '`audit:read`', facts: { scopes: ['audit:read'], consent: ['support_context'], grants: [] } },
  { label: '`context:read`, consent given', facts: { scopes: ['context:read'], consent: ['support_context'], grants: [] } },
  { label: '`context:read`, consent withdrawn', facts: { scopes: ['context:read'], consent: [], grants: [] } },
  { label: '`context:read` `fraud:read`', facts: { scopes: ['context:read', 'fraud:read'], consent: ['support_context'], grants: [] } },
  { label: '`dsar:process`', facts: { scopes: ['dsar:process'], consent: ['support_context'], grants: [] } },
];

const MASK_EXAMPLES: ReadonlyArray<{ field: PiiField; clear: string; masked: string; rule: string }> = [
  {
    field: 'DISPLAY_NAME',
    clear: 'Jane Doe',
    masked: maskDisplayName('Jane Doe') ?? '',
    rule: `first word, a space, the initial of the last word and a dot; a single word keeps its first letter and a dot (\`Cher\` -> \`${maskDisplayName('Cher') ?? ''}\`); a name written surname first with a comma is read in the usual order (\`Doe, Jane\` -> \`${maskDisplayName('Doe, Jane') ?? ''}\`), and a suffix or bracketed note after the surname is not its last word (\`Jane Doe Jr.\` -> \`${maskDisplayName('Jane Doe Jr.') ?? ''}\`)`,
  },
  {
    field: 'EMAIL',
    clear: 'jane.doe@example.com',
    masked: maskEmail('jane.doe@example.com'),
    rule: 'first character of the local part, `***`, `@` and the domain (always three stars, so the length of the local part is not revealed)',
  },
  {
    field: 'PHONE',
    clear: '+447700900123',
    masked: maskPhone('+447700900123'),
    rule: '`+`, one `*` per hidden digit and the last four digits, of which at least three digits of the national number stay hidden (a national number of 4, 5 or 6 digits shows 1, 2 or 3)',
  },
];

const code = (text: string): string => `\`${text}\``;
const codes = (items: readonly string[]): string => items.map(code).join(', ');
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function row(cells: readonly string[]): string {
  return `| ${cells.map(cell).join(' | ')} |`;
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  return [row(header), row(header.map(() => '---')), ...rows.map(row)];
}

function describeFull(rule: FieldRule): string {
  switch (rule.kind) {
    case 'open':
      return 'whoever reaches it';
    case 'scoped': {
      const any = rule.scopes.length === 1 ? code(rule.scopes[0] ?? '') : `any of ${codes(rule.scopes)}`;
      const all = rule.allScopes?.length ? ` and ${codes(rule.allScopes)}` : '';
      const consent = rule.consent ? `, if the customer consents to ${code(rule.consent)}` : '';
      const note = rule.note ? `; ${rule.note}` : '';
      return `${any}${all}${consent}${note}`;
    }
    case 'pii':
      return `clear: ${code('pii:read')} and an active grant for this customer and field; each read writes a ${code('PII_ACCESS')} audit event (refused if it cannot be written)`;
  }
}

function describeMasked(rule: FieldRule): string {
  if (rule.kind !== 'pii') return '-';
  const example = MASK_EXAMPLES.find((m) => m.field === rule.pii);
  const any = rule.scopes.length === 1 ? code(rule.scopes[0] ?? '') : `any of ${codes(rule.scopes)}`;
  return `${any}, when no grant applies${example ? ` (${code(example.masked)})` : ''}`;
}

function describeWithheldWhen(rule: FieldRule): string {
  switch (rule.kind) {
    case 'open':
      return '-';
    case 'scoped': {
      const reasons = [`${code('MISSING_SCOPE')} without those scopes`];
      if (rule.consent) reasons.push(`${code('CONSENT_REQUIRED')} when the customer's effective consent lacks ${code(rule.consent)}`);
      return reasons.join('; ');
    }
    case 'pii':
      return `${code('MISSING_SCOPE')} without ${codes([...rule.scopes, 'pii:read'])}; ${code('ELEVATION_REQUIRED')} with ${code('pii:read')} alone and no grant`;
  }
}

function describeGrant(rule: FieldRule): string {
  if (rule.kind !== 'pii') return '-';
  return `grant naming ${code(rule.pii)}; two-person: approved by another caller holding ${code('pii:approve')}`;
}

function describeRouter(rule: FieldRule): string {
  const groups = requiredScopesOf(rule);
  return groups ? code(printRequiresScopes(groups)) : '-';
}

function describeDecision(decision: Decision): string {
  return decision.outcome === 'withheld' ? decision.reason : decision.outcome;
}

function hasCheckedField(fields: Record<string, FieldRule>): boolean {
  return Object.values(fields).some((r) => r.kind !== 'open');
}

/** docs/POLICY.md, rendered from the policy table. Pure and deterministic: same table, same bytes. */
export function renderPolicyDocs(input: PolicyDocsInput): string {
  const { table: policy } = input;
  const covered = new Set(Object.entries(policy).flatMap(([type, fields]) => Object.keys(fields).map((f) => `${type}.${f}`)));
  const inSchema = new Set(input.schemaCoordinates);
  const uncovered = [...inSchema].filter((c) => !covered.has(c)).sort();
  const stale = [...covered].filter((c) => !inSchema.has(c)).sort();
  const checkedTypes = Object.entries(policy).filter(([, fields]) => hasCheckedField(fields));
  const twoPerson = Object.values(policy).flatMap((f) => Object.values(f)).filter((r): r is Extract<FieldRule, { kind: 'pii' }> => r.kind === 'pii');

  const out: string[] = [
    '<!-- Generated by `npm run policy:docs` from src/policy/policy-table.ts. Do not edit by hand: `npm run policy:check` (part of `npm test`) fails when this file differs from the table. -->',
    '',
    '# Field policy',
    '',
    'One declarative table, `FIELD_POLICY` in `src/policy/policy-table.ts`, decides for every field of every type who sees it in full, who sees it masked and who sees nothing. The subgraph enforces it (field guards and graphql-shield rules compiled from the table), the `@requiresScopes` directives in `_service { sdl }` come from it, and this page is generated from it.',
    '',
    '## Outcomes',
    '',
    '- **full**: the value.',
    '- **masked**: a reduced value and no error (formats below). Masks are computed when the value is written, so a masked read decrypts nothing.',
    `- **clear**: the value of a personal field in clear, for a caller holding ${code('pii:read')} and an approved, unexpired PII access grant for this customer and field. Each batch of clear reads in a request writes one ${code('PII_ACCESS')} audit event per customer naming the fields (a request that reaches one customer in separate steps, such as two aliased ${code('resolveCustomer')} fields, writes one per step); if that event cannot be written the value is refused.`,
    `- **withheld**: ${code('null')} and an error with ${code('extensions.code = "FORBIDDEN"')}, ${code('extensions.reason')} one of ${codes(['MISSING_SCOPE', 'CONSENT_REQUIRED', 'ELEVATION_REQUIRED'])}, and the field's ${code('path')}. A withheld non-null field nulls its parent, as GraphQL requires.`,
    '',
    'The same rules apply to a field however it is reached: through `customer(id)`, `resolveCustomer`, another field, or `_entities` (a router resolving a `Customer`, `Consent` or `AuditEvent` reference).',
    `An erased customer (${code('status: ERASED')}) is never read in clear, whatever the grants: erasure drops its masks and ciphertexts, so its personal fields are null for a caller who may see them.`,
    '',
    '## Masks',
    '',
    ...table(
      ['PII field', 'Clear', 'Masked', 'Format'],
      MASK_EXAMPLES.map((m) => [code(m.field), code(m.clear), code(m.masked), m.rule]),
    ),
    '',
    `A character is one as a reader sees it (a grapheme cluster): a conjunct, a flag or an emoji sequence is kept whole (${code('Raj क्षमा')} -> ${code(maskDisplayName('Raj क्षमा') ?? '')}). Masks are computed when the value is written.`,
    '',
    '## Deny by default',
    '',
    `- A field of the schema that the table does not name is **withheld** (${code('MISSING_SCOPE')}, message "<Type.field> is not covered by the field policy and is withheld") for every caller, by both engines (the field guards and graphql-shield's ${code('fallbackRule')}).`,
    `- Federation plumbing is opened explicitly, since a deny fallback would otherwise break federation: ${codes(['Query._entities', 'Query._service', '_Service.sdl'])} need a valid token only; what ${code('_entities')} returns follows each type's own rules.`,
    `- ${code('_entities')} hands out an entity only to a caller holding a scope that one of its field rules answers to (${code('pii:read')} included for personal fields, which then say ${code('ELEVATION_REQUIRED')}); any other caller gets **withheld** (${code('MISSING_SCOPE')}) at the representation's position, whether or not the id exists (no existence probing with ${code('__typename')}). ${code('AuditEvent')} and ${code('Consent')} are reached by id only with the scopes that list them on a customer (${code('Customer.auditTrail')}; ${code('Customer.consent')} and ${code('consentHistory')}), not with every scope that reads their fields: ${code('dsar:process')} reads them inside an export, which is audited. Per type: ${[...entityReachScopes(policy, input.entityTypes)].map(([t, s]) => `${code(t)}: any of ${codes(s ?? [])}`).join('; ')}.`,
    `- A ${code('Consent')} reached through ${code('_entities')} (for instance by following ${code('supersedes')}) is returned to a caller without ${codes(CONSENT_HISTORY_READ)} only when it is the customer's current receipt, the one ${code('Customer.consent')} shows; an earlier receipt is **withheld** (${code('MISSING_SCOPE')}), as ${code('Customer.consentHistory')} is.`,
    `- Schema fields the table does not cover: ${uncovered.length === 0 ? 'none.' : codes(uncovered)}`,
    `- Table entries with no field in the schema: ${stale.length === 0 ? 'none.' : codes(stale)}`,
    '',
    '## Matrix',
    '',
    `How to read a row: **Full** names the caller scopes that see the value (any one of a list; "and" adds scopes needed as well), and the customer's consent when one is needed. **Masked** applies to personal fields only. **Withheld** gives the reason a caller gets instead. **Router** is the ${code('@requiresScopes')} directive emitted for the field (OR of AND-groups): the scope half only.`,
    '',
  ];

  for (const [typeName, fields] of checkedTypes) {
    out.push(`### ${typeName}`, '');
    out.push(
      ...table(
        ['Field', 'Full', 'Masked', 'Withheld', 'Customer consent', 'Grant / approval', 'Router'],
        Object.entries(fields).map(([fieldName, rule]) => [
          code(fieldName),
          rule.kind === 'open' ? `open: ${rule.reachedThrough}` : describeFull(rule),
          describeMasked(rule),
          describeWithheldWhen(rule),
          rule.kind === 'scoped' && rule.consent ? code(rule.consent) : '-',
          describeGrant(rule),
          describeRouter(rule),
        ]),
      ),
      '',
    );
  }

  out.push(
    '## Who sees what',
    '',
    'Each cell is the outcome of the field\'s own rule for a representative caller (computed with the same decision steps the server runs). A field is only reached through its parent, whose rule applies first: for example `ContextSnapshot` fields through `Customer.context` or `Query.sessionContext`. Personal fields assume a grant for every PII field in the "+ grant" column; consent is `support_context` unless the column says withdrawn.',
    '',
  );
  for (const [typeName, fields] of checkedTypes) {
    if (typeName === 'Query' || typeName === 'Mutation') continue;
    out.push(`### ${typeName}`, '');
    out.push(
      ...table(
        ['Field', ...PERSONAS.map((p) => p.label)],
        Object.entries(fields).map(([fieldName, rule]) => [code(fieldName), ...PERSONAS.map((p) => describeDecision(decideForFacts(rule, p.facts)))]),
      ),
      '',
    );
  }

  out.push('## Open fields', '', 'These fields have no check of their own, because every way to reach them is already checked (a root field or a parent field named here), or they are federation plumbing.', '');
  const openRows: string[][] = [];
  for (const [typeName, fields] of Object.entries(policy)) {
    const byReach = new Map<string, string[]>();
    for (const [fieldName, rule] of Object.entries(fields)) {
      if (rule.kind !== 'open') continue;
      byReach.set(rule.reachedThrough, [...(byReach.get(rule.reachedThrough) ?? []), fieldName]);
    }
    for (const [reachedThrough, names] of byReach) openRows.push([code(typeName), codes(names), reachedThrough]);
  }
  out.push(...table(['Type', 'Fields', 'Reached through'], openRows), '');

  const needsApproval = twoPerson.map((r) => r.pii);
  out.push(
    '## PII access grants',
    '',
    `- ${code('requestPiiAccess(input: { customerId, fields, justification, ttlSeconds })')} needs ${code('pii:read')}. The justification is 1-${input.maxJustificationLength} characters and must not contain an email address, a phone number or the customer's CRM id (${code('BAD_USER_INPUT')}). The grant lasts ${code('ttlSeconds')} (default ${code('PII_GRANT_TTL_SECONDS')}, ${input.grantTtl.defaultSeconds} s), capped at ${code('PII_GRANT_MAX_TTL_SECONDS')} (${input.grantTtl.maxSeconds} s); it covers one agent, one customer and the fields named.`,
    `- Every grant (${codes(needsApproval)}) needs a second person: it is ${code('PENDING')} until ${code('approvePiiAccess(grantId)')} by a caller holding ${code('pii:approve')} who is not the requester; the requester approving its own grant gets ${code('FORBIDDEN')} with reason ${code('ELEVATION_REQUIRED')}.`,
    `- Grants live in Redis only, with their TTL; approval writes a ${code('PII_ACCESS_GRANTED')} audit event. When the grant expires the field is masked again.`,
    '',
    '## Router enforcement',
    '',
    `Every ${code('scoped')} and ${code('pii')} field carries ${code('@requiresScopes')} in the subgraph SDL (column Router above), so a GraphOS Router with authorization enabled refuses a field whose scopes the token lacks before planning reaches this subgraph. Consent and PII grants are facts about one customer that only this subgraph holds, so those checks, and the masking, stay here; the subgraph also re-checks the scopes, so it is safe without a router. @apollo/gateway refuses a supergraph that links \`requiresScopes\`: set \`POLICY_ROUTER_DIRECTIVES=false\` to serve the SDL without the directives.`,
    '',
  );
  return out.join('\n');
}
