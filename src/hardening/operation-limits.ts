import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  GraphQLError,
  Kind,
  Lexer,
  OperationTypeNode,
  parse,
  Source,
  TokenKind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type ParseOptions,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/** The code every rejected-for-size operation carries; front ends can rely on it. */
export const OPERATION_LIMIT_CODE = 'QUERY_TOO_COMPLEX';

export type OperationLimit =
  | 'depth'
  | 'aliases'
  | 'tokens'
  | 'cost'
  | 'auditTrails'
  | 'auditVerifications'
  | 'supportSessions'
  | 'entityRepresentations'
  | 'entityWeight'
  | 'exports'
  | 'supportPushes';

/**
 * Customers whose `auditTrail` one request may page. Each trail is its own
 * sorted query (a page per chain cannot be batched into one find), so through
 * `_entities` one request could otherwise ask for hundreds: about 55 ms each on
 * FerretDB. Trails past the limit are null with QUERY_TOO_COMPLEX; the first
 * ones are answered.
 */
export const MAX_AUDIT_TRAILS_PER_REQUEST = 10;

/**
 * Chains one operation may verify. A verification reads the whole chain (the anonymous one grows with every lookup
 * that matches nobody): 30 aliases of a 2,000-event chain read 60,000 events, 2.8 s of CPU (a probe). An operation
 * that asks for more is refused before anything runs (its field is non-null: a refusal while executing would null
 * the answers that stood too).
 */
export const MAX_AUDIT_VERIFICATIONS_PER_REQUEST = 3;

/**
 * Support sessions one operation may start. Its result is non-null: when one start of several is refused (the
 * caller's cap of live sessions, a rate limit), the whole answer is null, and the sessions started before it live
 * on with tokens nobody received, which nobody can end and which fill the caller's cap (a probe: 11 aliases left 10
 * such sessions and the caller locked out for their TTL). A console starts one session at a time.
 */
export const MAX_SUPPORT_SESSIONS_PER_REQUEST = 1;

/**
 * Data-subject exports one operation may ask for. An export reads everything held about a person, their audit trail
 * included: 30 aliases of one over a 2,000-event chain made a 16.7 MB answer in 20 s, the event loop blocked for over
 * a second at a time (a probe), where the same aliases of verifyAuditTrail are refused. Refused before anything runs.
 */
export const MAX_EXPORTS_PER_REQUEST = 3;

/**
 * Support pushes one document may carry (every operation in it counts). A push of 100 records of each kind costs 0.2 s, and up to 0.8 s for a
 * customer at the records kept per kind (its prune); 30 aliases of one made a 45 KB request run 31-49 s with 3-4 s of
 * CPU and file 12,000 records (a probe). An integration pushes one customer's activity per call; a few in one
 * document are taken. Refused before anything runs.
 */
export const MAX_SUPPORT_PUSHES_PER_REQUEST = 5;

export interface OperationLimitsConfig {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
}

const DESCRIPTIONS: Record<OperationLimit, string> = {
  depth: 'The operation is nested deeper than',
  aliases: 'The operation uses more aliases than',
  tokens: 'The operation has more tokens than',
  cost: 'The operation costs more than',
  auditTrails: 'The operation reads more distinct audit trail pages (customer and arguments) than',
  auditVerifications: 'The operation verifies more audit trails than',
  supportSessions: 'The operation starts more support sessions than',
  entityRepresentations: 'The request passes _entities more representations than',
  entityWeight: "The request's _entities selections weigh more than",
  exports: 'The operation asks for more data-subject exports than',
  supportPushes: 'The operation records more support activity pushes than',
};

/**
 * A rejected operation. The message is ours (never graphql-armor's, which
 * echoes the measured value) and the code is stable: Apollo re-labels
 * validation errors GRAPHQL_VALIDATION_FAILED, the error formatter restores it.
 */
export class OperationLimitError extends GraphQLError {
  readonly limit: OperationLimit;
  readonly maximum: number;
  /** `httpStatus` null: raised while executing, next to data that stands (the response stays 200). */
  constructor(limit: OperationLimit, maximum: number, httpStatus: number | null = 400) {
    super(`${DESCRIPTIONS[limit]} the limit of ${maximum}`, {
      extensions: { code: OPERATION_LIMIT_CODE, limit, maximum, ...(httpStatus === null ? {} : { http: { status: httpStatus } }) },
    });
    this.limit = limit;
    this.maximum = maximum;
  }
}

/** Braces, brackets and parentheses a document may nest, fragments and literals included, and named fragments it may define (documentTooDeep). */
export const MAX_DOCUMENT_NESTING = 200;
/** Shorter documents cannot nest deep enough to matter: not lexed for it (every request carries a document). */
const NESTING_CHECK_MIN_LENGTH = 2 * MAX_DOCUMENT_NESTING;

/** Thrown out of the spelled-out measure as soon as it passes MAX_DOCUMENT_NESTING: it recurses no deeper than that. */
const TOO_DEEP = Symbol('too deep');

/**
 * Why a document is refused before Apollo parses it, if it is: it nests its braces, brackets and parentheses deeper
 * than MAX_DOCUMENT_NESTING, counting through the named fragments it spreads (`nesting`), or defines more named
 * fragments than that (`fragments`). graphql-js parses, and executes inline fragments and fragment spreads, by
 * recursion: some 1,600 levels of `[`, or 3,500 of `...{` (which the depth rule does not count: it flattens fragments)
 * with MAX_TOKENS raised, overflowed the stack, and the caller got "Maximum call stack size exceeded" or an
 * INTERNAL_SERVER_ERROR; so did 30 named fragments spreading one another, each nesting 199 inline fragments (probes).
 * First read with graphql-js' lexer, which loops (strings and comments are single tokens); a document it cannot read
 * is left to Apollo's parse error. Then, its nesting bounded, parsed, and measured with every fragment spread written
 * out in place; fragments spreading one another in a cycle are left to validation.
 */
export function documentTooDeep(query: string, maxTokens = Number.POSITIVE_INFINITY): 'nesting' | 'fragments' | null {
  if (query.length < NESTING_CHECK_MIN_LENGTH) return null;
  const lexer = new Lexer(new Source(query));
  let depth = 0;
  let fragmentCount = 0;
  let tokens = 0;
  // Each run of tokens from the top level back to it (a definition's selection set, its variables, its directives'
  // arguments) adds its deepest level here: no chain of fragments spelled out nests deeper than all of them together.
  let deepestOfRun = 0;
  let runsTogether = 0;
  try {
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      // Apollo's parse stops at MAX_TOKENS and refuses the document: nothing past it is parsed or run (reading on cost
      // a 100 KB body 4-10 ms here, against under 1 ms for that refusal; a regression probe).
      if (++tokens > maxTokens) return null;
      // Named fragments nest by spreading one another: a chain of 2,000 overflowed too. A document may define as many
      // as it may nest.
      if (depth === 0 && token.kind === TokenKind.NAME && token.value === 'fragment' && ++fragmentCount > MAX_DOCUMENT_NESTING) return 'fragments';
      if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.BRACKET_L || token.kind === TokenKind.PAREN_L) {
        if (++depth > MAX_DOCUMENT_NESTING) return 'nesting';
        if (depth > deepestOfRun) deepestOfRun = depth;
      } else if (token.kind === TokenKind.BRACE_R || token.kind === TokenKind.BRACKET_R || token.kind === TokenKind.PAREN_R) {
        depth -= 1;
        if (depth === 0) {
          runsTogether += deepestOfRun;
          deepestOfRun = 0;
        }
      }
    }
  } catch {
    return null;
  }
  // Parsed only when spelling fragments out could go over the limit (a 3 KB document of 60 fragments cost 0.5 ms
  // lexed and parsed here, on every request): with no named fragment there is nothing to write out.
  if (fragmentCount === 0 || runsTogether + deepestOfRun <= MAX_DOCUMENT_NESTING) return null;
  let document: DocumentNode;
  try {
    // Its own nesting is bounded now, so the parser's recursion is too.
    document = parse(query, { noLocation: true });
  } catch {
    return null;
  }
  // By name; a name defined twice (which validation refuses) is measured by its deepest definition.
  const fragments = new Map<string, FragmentDefinitionNode[]>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, [...(fragments.get(definition.name.value) ?? []), definition]);
  }
  // How deep each fragment nests once written out, measured once: 150 fragments spreading the next one twice each
  // are 2^150 copies spelled out.
  const measured = new Map<string, number>();
  const onPath = new Set<string>();
  // The depth of a selection set that starts at `at`, counted from the document's top, so that this recursion stops at
  // MAX_DOCUMENT_NESTING however the fragments chain (a fragment measured first at `at` keeps its own depth, minus `at`).
  const deepest = (selectionSet: SelectionSetNode, at: number): number => {
    if (at > MAX_DOCUMENT_NESTING) throw TOO_DEEP;
    let reached = at;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const definitions = fragments.get(name);
        if (definitions === undefined || onPath.has(name)) continue;
        let own = measured.get(name);
        if (own === undefined) {
          onPath.add(name);
          own = Math.max(...definitions.map((fragment) => deepest(fragment.selectionSet, at + 1))) - at;
          onPath.delete(name);
          measured.set(name, own);
        }
        reached = Math.max(reached, at + own);
      } else if (selection.selectionSet) {
        reached = Math.max(reached, deepest(selection.selectionSet, at + 1));
      }
      if (reached > MAX_DOCUMENT_NESTING) throw TOO_DEEP;
    }
    return reached;
  };
  try {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) deepest(definition.selectionSet, 1);
    }
  } catch (error) {
    if (error === TOO_DEEP) return 'nesting';
    throw error;
  }
  return null;
}

/**
 * Depth, alias and cost limits are graphql-armor's validation rules (static
 * analysis of the document, before anything executes); the token limit is
 * graphql-js' own `maxTokens` parse option, which stops the lexer early
 * instead of parsing a huge document first.
 */
export function createOperationLimits(config: OperationLimitsConfig): { validationRules: ValidationRule[]; parseOptions: ParseOptions } {
  const rejectWith = (limit: OperationLimit, maximum: number) => ({
    // Report our own error instead of throwing armor's: throwing would abort the other rules.
    propagateOnRejection: false,
    exposeLimits: false,
    onReject: [(context: ValidationContext | null) => context?.reportError(new OperationLimitError(limit, maximum))],
  });
  return {
    validationRules: [
      knownOperationTypesRule,
      // Fragments add no nesting of their own: the gateway wraps every entity fetch in `... on Customer`.
      maxDepthRule({ n: config.maxDepth, flattenFragments: true, ...rejectWith('depth', config.maxDepth) }),
      // Every alias counts, `__typename`'s too (graphql-armor leaves those out by default: 1,500 were answered; a probe).
      maxAliasesRule({ n: config.maxAliases, allowList: [], ...rejectWith('aliases', config.maxAliases) }),
      costLimitRule({ maxCost: config.maxCost, flattenFragments: true, ...rejectWith('cost', config.maxCost) }),
      perDocumentRule(OperationTypeNode.QUERY, 'verifyAuditTrail', 'auditVerifications', MAX_AUDIT_VERIFICATIONS_PER_REQUEST),
      perDocumentRule(OperationTypeNode.MUTATION, 'startSupportSession', 'supportSessions', MAX_SUPPORT_SESSIONS_PER_REQUEST),
      perDocumentRule(OperationTypeNode.QUERY, 'dataSubjectAccess', 'exports', MAX_EXPORTS_PER_REQUEST),
      perDocumentRule(OperationTypeNode.MUTATION, 'recordSupportActivity', 'supportPushes', MAX_SUPPORT_PUSHES_PER_REQUEST),
    ],
    parseOptions: { maxTokens: config.maxTokens },
  };
}

/**
 * graphql-js 16 validates a `subscription` against a schema without a Subscription type and only execution fails
 * (an internal error); graphql-js 17 has this rule. Here: a validation error (HTTP 400), like any unknown field.
 */
const knownOperationTypesRule: ValidationRule = (context) => ({
  OperationDefinition(node) {
    if (context.getSchema().getRootType(node.operation)) return;
    context.reportError(new GraphQLError(`This subgraph has no ${node.operation} operations`, { nodes: [node] }));
  },
});

/**
 * Counts the selections of one root field in the document (aliases and fragments included, each once): at least as
 * many as run. Refused before anything runs, as the field is non-null: refused while executing, it would null the
 * answers that stood too.
 */
function perDocumentRule(root: OperationTypeNode, fieldName: string, limit: OperationLimit, maximum: number): ValidationRule {
  return (context) => {
    let count = 0;
    return {
      Field(node) {
        if (node.name.value !== fieldName || context.getParentType() !== context.getSchema().getRootType(root)) return;
        count += 1;
        if (count === maximum + 1) context.reportError(new OperationLimitError(limit, maximum));
      },
    };
  };
}

// graphql-js 16 spells it "more that"; accept the corrected spelling too, for the day it is fixed.
const TOKEN_LIMIT_MESSAGE = /^Syntax Error: Document contains more tha[nt] (\d+) tokens\. Parsing aborted\.$/;

/**
 * The operation limit behind an error Apollo reports, if any: our validation
 * error (wrapped by Apollo's ValidationError) or graphql-js' token limit
 * (wrapped by Apollo's SyntaxError; graphql-js gives it no code of its own).
 */
export function findOperationLimitError(error: unknown): OperationLimitError | null {
  if (!(error instanceof GraphQLError)) return null;
  if (error instanceof OperationLimitError) return error;
  const inner = error.originalError;
  if (inner instanceof OperationLimitError) return inner;
  const match = TOKEN_LIMIT_MESSAGE.exec(inner instanceof GraphQLError ? inner.message : '');
  return match ? new OperationLimitError('tokens', Number(match[1])) : null;
}
