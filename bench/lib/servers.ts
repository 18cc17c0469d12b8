import { copyFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTsc } from '../../scripts/production-runtime.js';
import { benchDir, IpcPeer, repoRoot, spawnTs, waitForMessage } from './child-process.js';

export interface BenchServer {
  name: string;
  peer: IpcPeer;
  pid: number;
  port: number;
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  name: string;
  /** Relative to bench/. */
  file: string;
  args?: string[];
  nodeArgs?: string[];
  logDir: string;
  readyTimeoutMs?: number;
}

let serverNodePath: string = process.execPath;
let compiledRoot: string | null = null;

/** Every server started after this runs on the given node binary (`--server-node`). */
export function useServerNode(nodePath: string): void {
  serverNodePath = nodePath;
}

/** Every server started after this runs from the compiled build under `root` (null: through tsx). */
export function useCompiledServers(root: string | null): void {
  compiledRoot = root;
}

/**
 * Compiles the server entry points and what they import (src/) with tsc into
 * `<work>/build`, as `npm run build` compiles src/ for production: the servers
 * then run plain JavaScript, without tsx's loader thread. The build resolves
 * packages and schema/ through links to the repository.
 */
export async function buildServers(work: string): Promise<string> {
  const out = path.join(work, 'build');
  const tsconfig = path.join(work, 'tsconfig.bench-build.json');
  const files = ['bare-http.ts', 'bare-subgraph.ts', 'veil-subgraph.ts'].map((f) => path.join(benchDir, 'servers', f));
  // typeRoots: type packages are looked up from the config's directory, which is not the repository's.
  const compilerOptions = { noEmit: false, rootDir: repoRoot, outDir: out, typeRoots: [path.join(repoRoot, 'node_modules', '@types')] };
  await writeFile(tsconfig, JSON.stringify({ extends: path.join(repoRoot, 'tsconfig.json'), compilerOptions, files, include: [] }));
  await runTsc(['-p', tsconfig]);
  await copyFile(path.join(repoRoot, 'package.json'), path.join(out, 'package.json'));
  await symlink(path.join(repoRoot, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  await symlink(path.join(repoRoot, 'schema'), path.join(out, 'schema'), 'dir');
  return out;
}

/** Starts one benchmark server in its own process and waits for the port it reports over IPC. */
export async function startServer(options: StartServerOptions): Promise<BenchServer> {
  const logFile = path.join(options.logDir, `${options.name}.log`);
  const child = spawnTs(options.file, { logFile, args: options.args, nodeArgs: options.nodeArgs, nodePath: serverNodePath, compiledRoot });
  const peer = new IpcPeer(options.name, child);
  const ready = await waitForMessage<{ port: number }>(child, (m) => m['type'] === 'listening', `${options.name} (log: ${logFile})`, options.readyTimeoutMs ?? 120_000).catch(
    async (error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    },
  );
  return {
    name: options.name,
    peer,
    pid: peer.pid,
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}/graphql`,
    logFile,
    stop: async () => {
      try {
        await peer.call({ command: 'stop' }, 20_000);
      } catch (error) {
        // Already gone, or hung: waitForExit below kills it by pid.
        if (!(error instanceof Error)) throw error;
      }
      await peer.waitForExit(20_000);
    },
  };
}
