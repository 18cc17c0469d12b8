// Runs before `npm start` and `npm test`: installs node_modules exactly from
// package-lock.json when they are missing or older than the lock file, so a
// fresh checkout (or a pulled lock change) needs no manual `npm ci`.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
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

const lockTime = mtimeMs(lockFile);
const installedTime = mtimeMs(installedLock);
let reason;
if (installedTime === undefined) reason = 'node_modules is missing';
else if (lockTime !== undefined && lockTime > installedTime) reason = 'package-lock.json is newer than node_modules';

if (reason !== undefined) {
  console.log(`ensure-deps: ${reason}; running npm ci --no-audit --no-fund`);
  const started = Date.now();
  // Under `npm run`, npm_execpath names the npm that is running us: reuse it
  // rather than whichever npm is first on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, args] =
    npmCli && npmCli.endsWith('.js')
      ? [process.execPath, [npmCli, 'ci', '--no-audit', '--no-fund']]
      : ['npm', ['ci', '--no-audit', '--no-fund']];
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
