import { readFileSync, unlinkSync } from 'node:fs';
import { open, readdir, readFile, readlink, realpath, stat, unlink } from 'node:fs/promises';
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
/** Held while a stale start lock is replaced, so that two starts cannot both replace it. */
const TAKEOVER_LOCK = '.start.lock.takeover';
/** A takeover lock older than this was left by a start that died while replacing (it takes milliseconds). */
const TAKEOVER_STALE_MS = 10_000;
/** Start locks this process holds: its own pid in a lock it does not hold is a pid reused after a kill -9 (a container's pid 1). */
const heldLocks = new Set<string>();

/**
 * Takes the data directory for this process: `<dataDir>/.start.lock`, created exclusively (O_EXCL) with this
 * process's pid. The check of /proc above and the servers' spawn are two steps: two starts launched at the same
 * moment both passed the check and ran two FerretDBs over one set of SQLite files (a probe). A lock whose process is
 * gone (a start killed with SIGKILL), or is no Node process (its pid reused by another program), is replaced, under a
 * second exclusive lock: two starts that both found it stale each deleted the other's new lock and both ran (a
 * regression probe). Returns the release, which also runs when the process exits.
 */
export async function takeStartLock(dataDir: string): Promise<() => Promise<void>> {
  const file = `${dataDir}/${START_LOCK}`;
  for (let attempt = 1; ; attempt++) {
    if (await createExclusively(file)) break;
    const holder = await lockHolder(file);
    if (holder !== null && (await isRunningStart(holder, file))) {
      throw new Error(`another start (pid ${holder}) is running on ${dataDir}: stop it first, or give this one a data directory of its own (VEIL_DATA_DIR)`);
    }
    if (attempt >= 5) {
      // A takeover lock left in the way (a directory, one written moments ago by a start that died) is named too.
      const blocker = `${dataDir}/${TAKEOVER_LOCK}`;
      const isBlocked = await stat(blocker).then(() => true, () => false);
      throw new Error(`${file} is held by no running start but cannot be taken over: remove it${isBlocked ? ` and ${blocker}` : ''}`);
    }
    // Empty: a start that has just created it and not yet written its pid. Give it a moment, then take it as stale.
    if (holder === null && attempt === 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    await replaceStaleLock(dataDir, file, holder);
  }
  heldLocks.add(file);
  const releaseNow = (): void => {
    heldLocks.delete(file);
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

/** Creates `file` with this process's pid unless it exists; false when it does. */
async function createExclusively(file: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

async function lockHolder(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    // A directory or an unreadable file where the lock goes: not something a start wrote.
    if (error.code === 'ENOENT') return '';
    throw new Error(`${file} cannot be read as a start lock (${error.code ?? 'error'}): remove it`);
  });
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Deletes `file` if it still names `holder` (a start that is gone), holding the takeover lock meanwhile. */
async function replaceStaleLock(dataDir: string, file: string, holder: number | null): Promise<void> {
  const takeover = `${dataDir}/${TAKEOVER_LOCK}`;
  if (!(await createExclusively(takeover))) {
    // Another start is replacing it: look again once it is done. One left by a start that died meanwhile is removed.
    const age = await stat(takeover).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > TAKEOVER_STALE_MS) await unlink(takeover).catch(() => undefined);
    else await new Promise((resolve) => setTimeout(resolve, 50));
    return;
  }
  try {
    // Read again under the takeover lock: only the lock that was found stale is deleted, never a new one.
    if ((await lockHolder(file).catch(() => -1)) === holder) await unlink(file).catch(() => undefined);
  } finally {
    await unlink(takeover).catch(() => undefined);
  }
}

/** Whether `pid`, named by the lock at `file`, is a start still running. */
async function isRunningStart(pid: number, file: string): Promise<boolean> {
  if (pid === process.pid) return heldLocks.has(file);
  if (!isAlive(pid)) return false;
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => null);
  if (exe !== null) return path.basename(exe).startsWith('node');
  // Unreadable: a kernel thread or another user's process is no start of ours, where /proc works at all; without
  // /proc (not Linux) a live pid is taken as the start that wrote it.
  const hasProc = await readlink('/proc/self/exe').then(() => true, () => false);
  return !hasProc;
}
