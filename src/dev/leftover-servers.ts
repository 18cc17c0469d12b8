import { readFileSync, unlinkSync } from 'node:fs';
import { open, readdir, readFile, readlink, realpath, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Dev servers a start left running on a data directory. A `npm start` killed with SIGKILL (or an OOM kill) cannot
 * stop its redis-server and FerretDB; they lived on, and the next start ran a second FerretDB over the same SQLite
 * files beside the first (a probe). Linux only (read from /proc); elsewhere nothing is found.
 */
export interface LeftoverServer {
  pid: number;
  name: string;
  /** The process that started it, when it still runs: another start on the same directory. */
  owner: number | null;
}

const SERVER_NAMES = new Set(['redis-server', 'veil-ferretdb', 'mongod']);

/** Servers whose data lives under `dataDir`: by their command line (`-dir`, `--dbpath`) or working directory (Redis `--dir`). */
export async function findLeftoverServers(dataDir: string): Promise<LeftoverServer[]> {
  // Real paths on both sides: a start given the directory through a symlink ran beside the first (a probe).
  const real = (p: string) => realpath(p).catch(() => p);
  const root = await real(path.resolve(dataDir));
  const within = (p: string) => p === root || p.startsWith(`${root}${path.sep}`);
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const found: LeftoverServer[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const name = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      if (!SERVER_NAMES.has(name)) continue;
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      const paths = await Promise.all(args.filter((arg) => arg.startsWith('/')).map(real));
      if (!within(cwd) && !paths.some(within)) continue;
      found.push({ pid, name, owner: await liveNodeParent(pid) });
    } catch {
      // Gone while we looked, or not ours to read.
    }
  }
  return found;
}

/**
 * Stops servers an earlier start left running on `dataDir`. When another start still runs them, refuses instead:
 * two starts on one directory would each run a database over the same files.
 */
export async function stopLeftoverServers(dataDir: string, log: (line: string) => void, graceMs = 10_000): Promise<void> {
  const leftovers = await findLeftoverServers(dataDir);
  // This process's own included: starting a second set on a directory it already serves is a mistake too.
  const owned = leftovers.find((server) => server.owner !== null);
  if (owned) {
    throw new Error(
      `another start (pid ${owned.owner}) is running ${owned.name} on ${dataDir}: stop it first, or give this one a data directory of its own (VEIL_DATA_DIR)`,
    );
  }
  for (const server of leftovers) {
    log(`stopping ${server.name} (pid ${server.pid}), left running on ${dataDir} by a start that could not stop it`);
    signal(server.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(server.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (isAlive(server.pid)) signal(server.pid, 'SIGKILL');
  }
}

async function liveNodeParent(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The second field is the command in parentheses and may hold spaces: the parent pid is the second after it.
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (!Number.isInteger(ppid) || ppid <= 1) return null;
  // By its executable: Node 24 names its main thread `MainThread`, which is what `comm` shows (CI caught it).
  const exe = await readlink(`/proc/${ppid}/exe`).catch(() => '');
  return path.basename(exe).startsWith('node') ? ppid : null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

const START_LOCK = '.start.lock';

/**
 * Takes the data directory for this process: `<dataDir>/.start.lock`, created exclusively (O_EXCL) with this
 * process's pid. The check of /proc above and the servers' spawn are two steps: two starts launched at the same
 * moment both passed the check and ran two FerretDBs over one set of SQLite files (a probe). A lock whose process is
 * gone (a start killed with SIGKILL), or is no Node process any more (its pid reused), is taken over. Returns the
 * release, which also runs when the process exits.
 */
export async function takeStartLock(dataDir: string): Promise<() => Promise<void>> {
  const file = `${dataDir}/${START_LOCK}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && (await isNodeProcess(holder))) {
      throw new Error(`another start (pid ${holder}) is running on ${dataDir}: stop it first, or give this one a data directory of its own (VEIL_DATA_DIR)`);
    }
    // Still being written (a start that has just created it), or left by a start that is gone.
    if (attempt >= 3) throw new Error(`${file} is held by no running start but cannot be taken over: remove it`);
    if (holder > 0 || attempt > 1) await unlink(file).catch(() => undefined);
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const releaseNow = (): void => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // Gone already.
    }
  };
  process.once('exit', releaseNow);
  return async () => {
    process.removeListener('exit', releaseNow);
    releaseNow();
  };
}

async function isNodeProcess(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => null);
  // No /proc (not Linux): a live pid is taken as the start that wrote it.
  return exe === null ? true : path.basename(exe).startsWith('node');
}
