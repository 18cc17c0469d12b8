// Fails when src/generated/ is not what `npm run codegen` makes from schema/*.graphql.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const file = 'src/generated/graphql.ts';
const before = readFileSync(file, 'utf8');
execFileSync(process.execPath, ['node_modules/@graphql-codegen/cli/cjs/bin.js', '--config', 'codegen.ts', '--silent'], { stdio: 'inherit' });
const after = readFileSync(file, 'utf8');
if (before !== after) {
  console.error(`${file} was stale: it has been regenerated from schema/*.graphql. Commit the new file.`);
  process.exit(1);
}
console.log(`${file} is current`);
