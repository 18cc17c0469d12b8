/**
 * Writes docs/POLICY.md from the field policy table, or with --check exits 1
 * when the checked-in file differs (CI and `npm test` run the check).
 *   npm run policy:docs          regenerate
 *   npm run policy:check         verify
 *   --file <path>                another target (tests)
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { loadConfig } from '../src/config.js';
import { renderPolicyDocs } from '../src/policy/policy-docs.js';
import { entityTypesOf } from '../src/policy/entity-reach.js';
import { FIELD_POLICY } from '../src/policy/policy-table.js';
import { listPolicyCoordinates } from '../src/policy/shield-rules.js';
import { MAX_JUSTIFICATION } from '../src/privacy-requests/grant-types.js';
import { loadTypeDefs } from '../src/schema-loader.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv: readonly string[]): { isCheck: boolean; file: string } {
  // Anything else was ignored, and the page rewritten (a probe): `--chek` would rewrite instead of checking.
  const unknown = argv.filter((arg, i) => arg !== '--check' && arg !== '--file' && argv[i - 1] !== '--file');
  if (unknown.length > 0) throw new Error(`unknown argument ${JSON.stringify(unknown[0])}: use [--check] [--file PATH]`);
  const fileIndex = argv.indexOf('--file');
  const file = fileIndex >= 0 ? argv[fileIndex + 1] : undefined;
  if (fileIndex >= 0 && !file) throw new Error('--file needs a path');
  return { isCheck: argv.includes('--check'), file: path.resolve(file ?? path.join(ROOT, 'docs', 'POLICY.md')) };
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function firstDifference(expected: string, actual: string): string {
  const want = expected.split('\n');
  const have = actual.split('\n');
  for (let i = 0; i < Math.max(want.length, have.length); i++) {
    if (want[i] !== have[i]) return `first difference at line ${i + 1}:\n  expected: ${want[i] ?? '<end of file>'}\n  found:    ${have[i] ?? '<end of file>'}`;
  }
  return 'the files differ';
}

async function main(): Promise<number> {
  const { isCheck, file } = parseArgs(process.argv.slice(2));
  // Defaults only: the page documents what an unconfigured deployment does, and must not vary with this shell's environment.
  const defaults = loadConfig({ NODE_ENV: 'development' });
  // Resolvers add no fields: the SDL alone gives the served schema's coordinates, without loading the app.
  const schema = buildSubgraphSchema({ typeDefs: loadTypeDefs() });
  const rendered = renderPolicyDocs({
    table: FIELD_POLICY,
    schemaCoordinates: listPolicyCoordinates(schema),
    entityTypes: entityTypesOf(schema),
    grantTtl: { defaultSeconds: defaults.grantTtlSeconds, maxSeconds: defaults.grantMaxTtlSeconds },
    maxJustificationLength: MAX_JUSTIFICATION,
  });
  const relative = path.relative(ROOT, file);
  if (!isCheck) {
    await writeFile(file, rendered);
    console.log(`policy:docs wrote ${relative} (${rendered.split('\n').length - (rendered.endsWith('\n') ? 1 : 0)} lines) from src/policy/policy-table.ts`);
    return 0;
  }
  const current = await readIfExists(file);
  if (current === rendered) {
    console.log(`policy:check ${relative} is up to date with src/policy/policy-table.ts`);
    return 0;
  }
  console.error(
    current === null
      ? `policy:check ${relative} is missing. Run \`npm run policy:docs\` and commit the file.`
      : `policy:check ${relative} is out of date with src/policy/policy-table.ts (or the schema). Run \`npm run policy:docs\` and commit the result.\n${firstDifference(rendered, current)}`,
  );
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`policy:docs failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
