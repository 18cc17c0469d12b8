import { Kind, visit, type ConstDirectiveNode, type DocumentNode, type FieldDefinitionNode, type ObjectTypeDefinitionNode, type ObjectTypeExtensionNode } from 'graphql';
import { FIELD_POLICY, type FieldRule } from './policy-table.js';

const DIRECTIVE = 'requiresScopes';

/**
 * The scope half of a rule in `@requiresScopes` form: OR of AND-groups.
 * `scoped`: any of `scopes`, each together with every `allScopes`.
 * `pii`: the scopes that see the mask, or `pii:read` (which with a grant sees
 * the clear value; without one the subgraph answers ELEVATION_REQUIRED).
 * `open` fields get none. Consent and grants are facts about the customer that
 * only the subgraph knows, so they stay in the subgraph's own checks.
 */
export function requiredScopesOf(rule: FieldRule): string[][] | null {
  switch (rule.kind) {
    case 'open':
      return null;
    case 'scoped':
      return rule.scopes.map((scope) => [scope, ...(rule.allScopes ?? []).filter((s) => s !== scope)]);
    case 'pii': {
      const groups = rule.scopes.map((scope) => [scope]);
      return rule.scopes.includes('pii:read') ? groups : [...groups, ['pii:read']];
    }
  }
}

/** `@requiresScopes(scopes: [["a"], ["b", "c"]])` as SDL text, for docs. */
export function printRequiresScopes(groups: readonly (readonly string[])[]): string {
  return `@${DIRECTIVE}(scopes: [${groups.map((g) => `[${g.map((s) => JSON.stringify(s)).join(', ')}]`).join(', ')}])`;
}

function directiveNode(groups: readonly (readonly string[])[]): ConstDirectiveNode {
  return {
    kind: Kind.DIRECTIVE,
    name: { kind: Kind.NAME, value: DIRECTIVE },
    arguments: [
      {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'scopes' },
        value: {
          kind: Kind.LIST,
          values: groups.map((group) => ({
            kind: Kind.LIST,
            values: group.map((scope) => ({ kind: Kind.STRING, value: scope })),
          })),
        },
      },
    ],
  };
}

/**
 * The directive must be imported through the federation @link, or
 * buildSubgraphSchema rejects it. The import is added here, with the
 * directives, so that an SDL served without them (POLICY_ROUTER_DIRECTIVES=false,
 * for @apollo/gateway) does not link the feature at all.
 */
function importRequiresScopes(doc: DocumentNode): DocumentNode {
  return visit(doc, {
    Directive: (node) => {
      if (node.name.value !== 'link') return undefined;
      const url = node.arguments?.find((a) => a.name.value === 'url')?.value;
      if (url?.kind !== Kind.STRING || !url.value.startsWith('https://specs.apollo.dev/federation/')) return undefined;
      const args = node.arguments ?? [];
      const existing = args.find((a) => a.name.value === 'import');
      const values = existing?.value.kind === Kind.LIST ? existing.value.values : [];
      if (values.some((v) => v.kind === Kind.STRING && v.value === `@${DIRECTIVE}`)) return undefined;
      const importArg = {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'import' },
        value: { kind: Kind.LIST, values: [...values, { kind: Kind.STRING, value: `@${DIRECTIVE}` }] },
      } as const;
      return { ...node, arguments: [...args.filter((a) => a.name.value !== 'import'), importArg] };
    },
  });
}

/**
 * Adds `@requiresScopes` from the policy table to every object field of the
 * SDL whose rule is `scoped` or `pii`, so that a GraphOS Router in front can
 * refuse a field before the query plan reaches this subgraph. The subgraph
 * keeps enforcing the whole rule itself either way. A hand-written
 * `@requiresScopes` in schema/*.graphql is refused: the table is the only
 * source of the policy.
 */
export function applyRequiresScopes(doc: DocumentNode, table: Record<string, Record<string, FieldRule>> = FIELD_POLICY): DocumentNode {
  const annotate = (node: ObjectTypeDefinitionNode | ObjectTypeExtensionNode) => {
    if (!node.fields) return undefined;
    const typeName = node.name.value;
    const fields = node.fields.map((field): FieldDefinitionNode => {
      if (field.directives?.some((d) => d.name.value === DIRECTIVE)) {
        throw new Error(`policy: ${typeName}.${field.name.value} declares @${DIRECTIVE} in the SDL; scopes come from the policy table`);
      }
      const fieldRule = table[typeName]?.[field.name.value];
      const groups = fieldRule ? requiredScopesOf(fieldRule) : null;
      return groups ? { ...field, directives: [...(field.directives ?? []), directiveNode(groups)] } : field;
    });
    return { ...node, fields };
  };
  return visit(importRequiresScopes(doc), {
    ObjectTypeDefinition: annotate,
    ObjectTypeExtension: annotate,
  });
}
