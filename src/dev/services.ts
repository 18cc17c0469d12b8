/**
 * Local service launcher for `npm start` and the tests: our own Redis and a
 * MongoDB-compatible server (a real `mongod` when one is on PATH, otherwise
 * FerretDB built from tools/ferretdb), each on a free loopback port with its
 * data under one directory. Nothing here talks to a system-wide server: a
 * Redis on 6379 may belong to someone else, and tests must be free to stop
 * the servers they use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, statSync } from 'node:fs';
import { chmod, mkdir, open, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopLeftoverServers, takeStartLock } from './leftover-servers.js';

export type Log = (line: string) => void;

export type MongoKind = 'external' | 'mongod' | 'ferretdb';
export type RedisKind = 'external' | 'redis-server';

export interface DevServices {
  mongoUrl: string;
  redisUrl: string;
  mongoKind: MongoKind;
  redisKind: RedisKind;
  /** Absolute; holds the data directories and the servers' log files. */
  dataDir: string;
  /** PIDs of the servers we run and that are up now (absent when external or stopped). */
  pids(): { redis?: number; mongo?: number };
  stop(): Promise<void>;
  /** Outage simulation: the same server, port and data directory come back on start. */
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  stopMongo(): Promise<void>;
  startMongo(): Promise<void>;
}

export interface StartDevServicesOptions {
  dataDir: string;
  /** Use this MongoDB and start none. */
  mongoUrl?: string;
  /** Use this Redis and start none. */
  redisUrl?: string;
  log?: Log;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const ferretDbSourceDir = path.join(repoRoot, 'tools', 'ferretdb');
export const ferretDbBinaryPath = path.join(ferretDbSourceDir, 'veil-ferretdb');

const LOOPBACK = '127.0.0.1';
const REDIS_READY_TIMEOUT_MS = 30_000;
// mongod can replay its journal after an unclean stop, and FerretDB opens its
// SQLite files on start; both are slower than Redis on a busy 2-core machine.
const MONGO_READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

const silent: Log = () => undefined;

export async function startDevServices(opts: StartDevServicesOptions): Promise<DevServices> {
  const log = opts.log ?? silent;
  await mkdir(path.resolve(opts.dataDir), { recursive: true });
  // The real path, so that the servers' command lines name the directory one way whatever link led to it.
  const dataDir = await realpath(path.resolve(opts.dataDir));
  const releaseLock = await takeStartLock(dataDir);
  try {
    await stopLeftoverServers(dataDir, log);
  } catch (error) {
    await releaseLock();
    throw error;
  }

  // Started side by side: the first FerretDB build takes minutes and Redis
  // need not wait for it.
  const [redisResult, mongoResult] = await Promise.allSettled([
    opts.redisUrl === undefined ? startRedisServer(dataDir, log) : Promise.resolve(undefined),
    opts.mongoUrl === undefined ? startMongoServer(dataDir, log) : Promise.resolve(undefined),
  ]);
  if (redisResult.status === 'rejected' || mongoResult.status === 'rejected') {
    // Never leave half a set of servers running behind a failed start.
    await Promise.all([
      redisResult.status === 'fulfilled' ? redisResult.value?.server.stop() : undefined,
      mongoResult.status === 'fulfilled' ? mongoResult.value?.server.stop() : undefined,
    ]);
    await releaseLock();
    const errors: unknown[] = [redisResult, mongoResult].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'Redis and MongoDB both failed to start');
  }

  const redis = redisResult.value;
  const mongo = mongoResult.value;
  const requireManaged = (started: StartedServer | undefined, what: string): ManagedServer => {
    if (started === undefined) {
      throw new Error(`${what} is external (given by URL), so it cannot be stopped or started from here`);
    }
    return started.server;
  };

  return {
    mongoUrl: opts.mongoUrl ?? mongo?.url ?? '',
    redisUrl: opts.redisUrl ?? redis?.url ?? '',
    mongoKind: mongo === undefined ? 'external' : mongo.kind === 'mongod' ? 'mongod' : 'ferretdb',
    redisKind: redis === undefined ? 'external' : 'redis-server',
    dataDir,
    pids() {
      const result: { redis?: number; mongo?: number } = {};
      const redisPid = redis?.server.pid;
      const mongoPid = mongo?.server.pid;
      if (redisPid !== undefined) result.redis = redisPid;
      if (mongoPid !== undefined) result.mongo = mongoPid;
      return result;
    },
    async stop() {
      await Promise.all([redis?.server.stop(), mongo?.server.stop()]);
      await releaseLock();
    },
    stopRedis: async () => requireManaged(redis, 'Redis').stop(),
    startRedis: async () => requireManaged(redis, 'Redis').start(),
    stopMongo: async () => requireManaged(mongo, 'MongoDB').stop(),
    startMongo: async () => requireManaged(mongo, 'MongoDB').start(),
  };
}

interface StartedServer {
  url: string;
  kind: 'redis-server' | 'mongod' | 'ferretdb';
  server: ManagedServer;
}

async function startRedisServer(dataDir: string, log: Log): Promise<StartedServer> {
  const binary = await ensureRedisServer(log);
  const port = await findFreePort();
  const dir = path.join(dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const server = new ManagedServer(
    {
      name: 'redis-server',
      command: binary,
      // No persistence: dev and test data are disposable, and a stop/start
      // must be quick. Outage tests rely on the port and dir being reused.
      args: ['--save', '', '--appendonly', 'no', '--bind', LOOPBACK, '--port', String(port), '--dir', dir],
      port,
      logFile: path.join(dataDir, 'redis.log'),
      probe: pingRedis,
      readyTimeoutMs: REDIS_READY_TIMEOUT_MS,
    },
    log,
  );
  await server.start();
  return { url: `redis://${LOOPBACK}:${port}`, kind: 'redis-server', server };
}

async function startMongoServer(dataDir: string, log: Log): Promise<StartedServer> {
  const mongod = findExecutable('mongod');
  const port = await findFreePort();
  let spec: ServerSpec;
  let kind: 'mongod' | 'ferretdb';
  if (mongod !== undefined) {
    const dir = path.join(dataDir, 'mongod');
    await mkdir(dir, { recursive: true });
    kind = 'mongod';
    spec = {
      name: 'mongod',
      command: mongod,
      args: ['--dbpath', dir, '--port', String(port), '--bind_ip', LOOPBACK],
      port,
      logFile: path.join(dataDir, 'mongod.log'),
      probe: connectTcp,
      readyTimeoutMs: MONGO_READY_TIMEOUT_MS,
    };
  } else {
    const binary = await ensureFerretDbBinary(log);
    const dir = path.join(dataDir, 'ferretdb');
    await mkdir(dir, { recursive: true });
    kind = 'ferretdb';
    spec = {
      name: 'ferretdb',
      command: binary,
      args: ['-listen', `${LOOPBACK}:${port}`, '-dir', dir],
      port,
      logFile: path.join(dataDir, 'ferretdb.log'),
      probe: connectTcp,
      readyTimeoutMs: MONGO_READY_TIMEOUT_MS,
    };
  }
  const server = new ManagedServer(spec, log);
  await server.start();
  return { url: `mongodb://${LOOPBACK}:${port}`, kind, server };
}

// ---------------------------------------------------------------------------
// Child processes

interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  port: number;
  logFile: string;
  /** Resolves once the server answers on the port; rejects otherwise. */
  probe: (port: number) => Promise<void>;
  readyTimeoutMs: number;
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers cannot wait, so there is no grace period here; stop() is
  // the graceful path. SIGKILL is safe: Redis keeps nothing on disk, and
  // SQLite and mongod's journal survive a kill.
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

class ManagedServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  // Serialises start/stop so that overlapping outage-test calls cannot race.
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly spec: ServerSpec,
    private readonly log: Log,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const result = this.queue.then(task);
    // The caller gets the failure through `result`; the queue only needs to
    // know the task is over so the next one can run.
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async doStart(): Promise<void> {
    if (this.child !== undefined) return;
    installExitHook();
    const { name, command, args, port, logFile } = this.spec;
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { stdio: ['ignore', fd, fd] });
    } finally {
      // The child holds its own copy of the descriptor from here on.
      closeSync(fd);
    }
    liveChildren.add(child);
    let exitDescription: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('error', (error: Error) => {
        exitDescription = `could not be started (${error.message})`;
        liveChildren.delete(child);
        resolve();
      });
      child.once('exit', (code, signal) => {
        exitDescription = signal === null ? `exited with code ${code ?? 'unknown'}` : `was killed by ${signal}`;
        liveChildren.delete(child);
        resolve();
      });
    });
    this.child = child;
    this.exited = exited;

    const started = Date.now();
    const deadline = started + this.spec.readyTimeoutMs;
    let lastProbeError = 'no attempt yet';
    for (;;) {
      if (exitDescription !== undefined) {
        this.forget(child);
        throw new Error(
          `${name} ${exitDescription} before accepting connections on ${LOOPBACK}:${port}` +
            `\n  command: ${formatCommand(command, args)}` +
            (await describeLogTail(logFile)),
        );
      }
      try {
        await this.spec.probe(port);
        break;
      } catch (error) {
        lastProbeError = errorMessage(error);
      }
      if (Date.now() >= deadline) {
        await this.doStop();
        throw new Error(
          `${name} did not become ready on ${LOOPBACK}:${port} within ${this.spec.readyTimeoutMs / 1000} s ` +
            `(last probe: ${lastProbeError})\n  command: ${formatCommand(command, args)}` +
            (await describeLogTail(logFile)),
        );
      }
      await sleep(100);
    }
    this.log(`${name} ready on ${LOOPBACK}:${port} in ${Date.now() - started} ms (pid ${child.pid ?? '?'}, log ${logFile})`);
  }

  private async doStop(): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    if (child === undefined || exited === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.log(`${this.spec.name} ignored SIGTERM for ${STOP_GRACE_MS / 1000} s; sending SIGKILL`);
        child.kill('SIGKILL');
      }
    }
    await exited;
    this.forget(child);
  }

  private forget(child: ChildProcess): void {
    if (this.child === child) {
      this.child = undefined;
      this.exited = undefined;
    }
  }
}

// ---------------------------------------------------------------------------
// Readiness probes and ports

function connectTcp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('connect timed out'));
    });
    socket.once('error', reject);
  });
}

/** Redis accepts connections while it is still loading; only +PONG means ready. */
function pingRedis(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port });
    let reply = '';
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(2_000);
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end === -1) return;
      socket.destroy();
      const line = reply.slice(0, end);
      if (line === '+PONG') resolve();
      else reject(new Error(`PING answered ${JSON.stringify(line)}`));
    });
    socket.once('timeout', () => fail(new Error('PING timed out')));
    socket.once('error', fail);
    socket.once('end', () => fail(new Error('connection closed before PONG')));
  });
}

const portsHandedOut = new Set<number>();

/**
 * The port is free when we close our probe socket; a server started right
 * after gets it. Two calls in one process never return the same port, which
 * the kernel does not promise on its own.
 */
export async function findFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => {
        const address = server.address();
        server.close(() => {
          if (address !== null && typeof address === 'object') resolve(address.port);
          else reject(new Error(`unexpected listen address ${String(address)}`));
        });
      });
    });
    if (!portsHandedOut.has(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
  throw new Error(`could not find a free TCP port on ${LOOPBACK}`);
}

// ---------------------------------------------------------------------------
// Installing the servers

/**
 * Builds tools/ferretdb into tools/ferretdb/veil-ferretdb when the binary is
 * missing or older than its sources, and returns its path.
 */
export async function ensureFerretDbBinary(log: Log = silent): Promise<string> {
  const sources = ['main.go', 'go.mod', 'go.sum'].map((file) => path.join(ferretDbSourceDir, file));
  const newestSource = Math.max(...(await Promise.all(sources.map(async (file) => (await stat(file)).mtimeMs))));
  const binaryMtime = await mtimeOrUndefined(ferretDbBinaryPath);
  if (binaryMtime !== undefined && binaryMtime >= newestSource) return ferretDbBinaryPath;

  const go = findExecutable('go', ['/usr/local/go/bin', path.join(process.env['HOME'] ?? '/root', 'go', 'bin')]);
  if (go === undefined) {
    if (binaryMtime !== undefined) {
      log(`tools/ferretdb changed since veil-ferretdb was built, but no Go toolchain was found; using the old binary`);
      return ferretDbBinaryPath;
    }
    throw new Error(
      'FerretDB must be built from tools/ferretdb, but no Go toolchain was found on PATH or in /usr/local/go/bin. ' +
        'Install Go 1.24 or newer, or set MONGODB_URL to a running MongoDB.',
    );
  }

  const reason = binaryMtime === undefined ? 'not built yet' : 'sources changed';
  log(
    `building FerretDB 1.24.2 (${reason}) with ${go} into ${path.relative(repoRoot, ferretDbBinaryPath)}; ` +
      'about 2 minutes when the Go module cache is cold, seconds otherwise',
  );
  const started = Date.now();
  // Built under a git-ignored directory and renamed into place, so a second
  // process building at the same time never runs a half-written binary.
  const stagingDir = path.join(ferretDbSourceDir, '.veil-tmp');
  await mkdir(stagingDir, { recursive: true });
  const staged = path.join(stagingDir, `veil-ferretdb-${process.pid}-${Date.now()}`);
  try {
    // VCS stamping needs a git the build may not trust (a checkout owned by
    // another user); the binary does not use it.
    const goFlags = [process.env['GOFLAGS'], '-buildvcs=false'].filter(Boolean).join(' ');
    const result = await runCommand(go, ['build', '-o', staged, '.'], {
      cwd: ferretDbSourceDir,
      env: { ...process.env, GOFLAGS: goFlags },
    });
    if (result.code !== 0) {
      throw new Error(`go build of tools/ferretdb failed (${result.status})${formatTail(result.output)}`);
    }
    await chmod(staged, 0o755);
    await rename(staged, ferretDbBinaryPath);
  } finally {
    await rm(staged, { force: true });
    await removeDirIfEmpty(stagingDir);
  }
  log(`built FerretDB in ${formatSeconds(Date.now() - started)}`);
  return ferretDbBinaryPath;
}

/** Returns the path of redis-server, installing the Debian package when it is missing. */
export async function ensureRedisServer(log: Log = silent): Promise<string> {
  const extraDirs = ['/usr/bin', '/usr/sbin', '/usr/local/bin'];
  const existing = findExecutable('redis-server', extraDirs);
  if (existing !== undefined) return existing;

  const aptGet = findExecutable('apt-get', extraDirs);
  if (aptGet === undefined) {
    throw new Error('redis-server is not installed and apt-get is not available; install Redis, or set REDIS_URL');
  }
  const isRoot = process.getuid?.() === 0;
  const sudo = isRoot ? undefined : findExecutable('sudo', extraDirs);
  if (!isRoot && sudo === undefined) {
    throw new Error(
      'redis-server is not installed, and installing it needs root: run `sudo apt-get install -y redis-server`, or set REDIS_URL',
    );
  }
  // sudo drops the environment, so the non-interactive frontend goes through env(1).
  const aptCommand = (args: string[]): [string, string[]] =>
    sudo === undefined
      ? [aptGet, args]
      : [sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGet, ...args]];
  // Waits for the dpkg lock instead of failing when another install is running.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];

  log(`redis-server not found; installing the Debian package redis-server with apt-get${sudo ? ' (via sudo -n)' : ''}`);
  const started = Date.now();
  for (const args of [
    ['-q', ...lockWait, 'update'],
    ['-q', '-y', ...lockWait, 'install', '--no-install-recommends', 'redis-server'],
  ]) {
    const [command, commandArgs] = aptCommand(args);
    const result = await runCommand(command, commandArgs, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.code !== 0) {
      throw new Error(`\`${command} ${commandArgs.join(' ')}\` failed (${result.status})${formatTail(result.output)}`);
    }
  }
  const installed = findExecutable('redis-server', extraDirs);
  if (installed === undefined) throw new Error('apt-get installed redis-server, but the binary is still not found');
  log(`installed redis-server (${installed}) in ${formatSeconds(Date.now() - started)}`);
  return installed;
}

// ---------------------------------------------------------------------------
// Small helpers

function findExecutable(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch (error) {
      if (!isErrnoException(error)) throw error;
    }
  }
  return undefined;
}

interface CommandResult {
  code: number | null;
  status: string;
  output: string;
}

function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const append = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      // Only the tail is ever shown; apt-get and go can print a lot.
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.once('error', (error: Error) => resolve({ code: null, status: error.message, output }));
    child.once('close', (code, signal) =>
      resolve({ code, status: signal === null ? `exit code ${code ?? 'unknown'}` : `killed by ${signal}`, output }),
    );
  });
}

async function describeLogTail(logFile: string): Promise<string> {
  let text: string;
  try {
    const handle = await open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 8_192);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    return `\n  (could not read ${logFile}: ${errorMessage(error)})`;
  }
  return text.trim() === '' ? `\n  (${logFile} is empty)` : `\n  last lines of ${logFile}:${formatTail(text)}`;
}

function formatTail(text: string, lines = 20): string {
  const tail = text.trimEnd().split('\n').slice(-lines);
  return tail.length === 0 || tail[0] === '' ? '' : `\n    ${tail.join('\n    ')}`;
}

async function mtimeOrUndefined(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).mtimeMs;
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

async function removeDirIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (error) {
    // Another process may be staging its own build there.
    if (isErrnoException(error) && (error.code === 'ENOTEMPTY' || error.code === 'EEXIST' || error.code === 'ENOENT')) {
      return;
    }
    throw error;
  }
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatCommand(command: string, args: readonly string[]): string {
  return [command, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`)).join(' ');
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
