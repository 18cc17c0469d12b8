// Runs before `npm start` and `npm test`: installs node_modules exactly from
// package-lock.json when they are missing, older than the lock file, or lack
// the development dependencies outside production, so a fresh checkout (or a
// pulled lock change, or a checkout once started with NODE_ENV=production)
// needs no manual `npm ci`.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lockFile = path.join(root, 'package-lock.json');
// npm writes this copy of the lock into node_modules after every install.
const installedLock = path.join(root, 'node_modules', '.package-lock.json');

function mtimeMs(file) {
  try {
    return statSync(file).mtimeMs;
  } catch (error) {
    if (error && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

// `npm test` needs them whatever NODE_ENV says (a CI image that sets NODE_ENV=production crashed on a missing
// @graphql-codegen/cli; a probe); `npm start` needs them outside production.
const needsDevDependencies = process.env.npm_lifecycle_event === 'pretest' || process.env.NODE_ENV !== 'production';

/**
 * The development dependencies package.json names that node_modules lacks. `NODE_ENV=production npm start` installs
 * the production dependencies only (npm omits dev ones under NODE_ENV=production); a later `npm test` in the same
 * checkout found node_modules current and crashed on a missing @graphql-codegen/cli (a probe).
 */
function missingDevDependencies() {
  if (!needsDevDependencies) return [];
  const { devDependencies = {} } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const { packages = {} } = JSON.parse(readFileSync(installedLock, 'utf8'));
  return Object.keys(devDependencies).filter((name) => !(`node_modules/${name}` in packages));
}

const lockTime = mtimeMs(lockFile);
const installedTime = mtimeMs(installedLock);
let reason;
if (installedTime === undefined) reason = 'node_modules is missing';
else if (lockTime !== undefined && lockTime > installedTime) reason = 'package-lock.json is newer than node_modules';
else {
  const missing = missingDevDependencies();
  if (missing.length > 0) reason = `node_modules lacks development dependencies (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}; installed for production?)`;
}

if (reason !== undefined) {
  console.log(`ensure-deps: ${reason}; running npm ci --no-audit --no-fund --loglevel=error${needsDevDependencies ? ' --include=dev' : ''}`);
  const started = Date.now();
  // Under `npm run`, npm_execpath names the npm that is running us: reuse it
  // rather than whichever npm is first on PATH.
  const npmCli = process.env.npm_execpath;
  // npm leaves development dependencies out under NODE_ENV=production unless told otherwise.
  // Errors only: on Node 20 some development dependencies (the GraphQL code generator's) declare Node 22 and npm printed
  // 17 EBADENGINE warnings, 90 lines that buried these progress lines (a probe); they run on Node 20, which CI tests.
  const ciArgs = ['ci', '--no-audit', '--no-fund', '--loglevel=error', ...(needsDevDependencies ? ['--include=dev'] : [])];
  const [command, args] = npmCli && npmCli.endsWith('.js') ? [process.execPath, [npmCli, ...ciArgs]] : ['npm', ciArgs];
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.error) {
    console.error(`ensure-deps: could not run npm ci: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`ensure-deps: npm ci failed after ${seconds} s (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  console.log(`ensure-deps: npm ci done in ${seconds} s`);
}
