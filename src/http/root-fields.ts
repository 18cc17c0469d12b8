import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/**
 * The root fields an operation selects, through inline fragments and fragment spreads, by field name (aliases do not
 * matter). Collecting stops once `limit` names are found.
 */
export function rootFieldNames(operation: OperationDefinitionNode, document: DocumentNode | undefined, limit = Number.POSITIVE_INFINITY): Set<string> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document?.definitions ?? []) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const fields = new Set<string>();
  const seen = new Set<string>();
  const collect = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) fields.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) collect(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        // Validation refuses fragment cycles before execution; `seen` keeps this bounded anyway.
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet);
      }
      if (fields.size >= limit) return;
    }
  };
  collect(operation.selectionSet);
  return fields;
}
