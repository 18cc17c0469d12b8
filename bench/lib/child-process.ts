import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = fileURLToPath(new URL('../', import.meta.url));
export const repoRoot = path.resolve(benchDir, '..');

export interface SpawnOptions {
  /** Extra node flags (for example --cpu-prof). */
  nodeArgs?: string[];
  /** stdout and stderr of the child go here (never through the runner's pipes). */
  logFile: string;
  args?: string[];
  /** The node binary (default: the one running the runner). */
  nodePath?: string;
  /** Run the compiled JavaScript of `file` under this build root (see buildServers) instead of the TypeScript through tsx. */
  compiledRoot?: string | null;
}

/**
 * A TypeScript entry point run as `node --import tsx <file>`, or its compiled
 * JavaScript as `node <build>/<file>.js`: the pid is the node process itself
 * (no wrapper), which is what /proc CPU accounting needs.
 */
export function spawnTs(file: string, options: SpawnOptions): ChildProcess {
  const fd = openSync(options.logFile, 'a');
  try {
    const entry = options.compiledRoot
      ? [path.join(options.compiledRoot, 'bench', file.replace(/\.ts$/, '.js'))]
      : ['--import', 'tsx', path.join(benchDir, file)];
    return spawn(options.nodePath ?? process.execPath, [...(options.nodeArgs ?? []), ...entry, ...(options.args ?? [])], {
      cwd: repoRoot,
      stdio: ['ignore', fd, fd, 'ipc'],
      env: { ...process.env, NODE_ENV: undefined } as NodeJS.ProcessEnv,
    });
  } finally {
    closeSync(fd);
  }
}

/** Request/response over a child's IPC channel, matched by id. */
export class IpcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exitError: Error | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (raw: unknown) => {
      const message = raw as { id?: number; type?: string; result?: unknown; error?: string };
      if (typeof message.id !== 'number') return;
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(new Error(`${name}: ${message.error}`));
      else waiter.resolve(message.result);
    });
    child.on('exit', (code, signal) => {
      this.exitError = new Error(`${name} exited (code ${code}, signal ${signal})`);
      for (const waiter of this.pending.values()) waiter.reject(this.exitError);
      this.pending.clear();
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid`);
    return this.child.pid;
  }

  call<T>(fields: Record<string, unknown>, timeoutMs = 600_000): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...fields, id });
    });
  }

  /** Waits for the child to exit; kills it (by its own pid) if it does not within `graceMs`. */
  async waitForExit(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
      }, graceMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Resolves with the first message that matches, or rejects when the child exits first. */
export function waitForMessage<T>(child: ChildProcess, match: (m: Record<string, unknown>) => boolean, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (raw: unknown) => {
      const message = raw as Record<string, unknown>;
      if (typeof message === 'object' && message !== null && match(message)) {
        cleanup();
        resolve(message as T);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${what}: exited with code ${code} before it was ready (see its log)`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
