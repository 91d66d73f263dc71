import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';

export const MAX_DEPTH = 12;
export const MAX_SELECTIONS = 1_000;
export const MAX_PARSE_TOKENS = 20_000;

/**
 * Refuses operations nested deeper than `maxDepth` or selecting more than `maxSelections` fields
 * in all (aliases and fragment spreads counted where they expand), before anything executes.
 */
export function queryLimits(maxDepth = MAX_DEPTH, maxSelections = MAX_SELECTIONS) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    return {
      OperationDefinition(node) {
        let selections = 0;
        let deepest = 0;
        const walk = (set: SelectionSetNode, depth: number, seen: Set<string>): boolean => {
          deepest = Math.max(deepest, depth);
          if (depth > maxDepth) return false;
          for (const selection of set.selections) {
            if (selection.kind === Kind.FIELD) {
              if (++selections > maxSelections) return false;
              if (selection.selectionSet && !walk(selection.selectionSet, depth + 1, seen)) return false;
            } else if (selection.kind === Kind.INLINE_FRAGMENT) {
              if (!walk(selection.selectionSet, depth, seen)) return false;
            } else {
              const name = selection.name.value;
              const fragment = fragments.get(name);
              if (!fragment || seen.has(name)) continue; // unknown or cyclic: graphql's own rules report it
              if (!walk(fragment.selectionSet, depth, new Set([...seen, name]))) return false;
            }
          }
          return true;
        };
        if (!walk(node.selectionSet, 1, new Set())) {
          const message =
            deepest > maxDepth
              ? `The operation is nested deeper than ${maxDepth} levels`
              : `The operation selects more than ${maxSelections} fields`;
          context.reportError(new GraphQLError(message, { nodes: [node] }));
        }
      },
    };
  };
}
