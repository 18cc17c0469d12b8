import path from 'node:path';
import { IpcPeer, spawnTs, waitForMessage } from './child-process.js';

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

/** Every server started after this runs on the given node binary (`--server-node`). */
export function useServerNode(nodePath: string): void {
  serverNodePath = nodePath;
}

/** Starts one benchmark server in its own process and waits for the port it reports over IPC. */
export async function startServer(options: StartServerOptions): Promise<BenchServer> {
  const logFile = path.join(options.logDir, `${options.name}.log`);
  const child = spawnTs(options.file, { logFile, args: options.args, nodeArgs: options.nodeArgs, nodePath: serverNodePath });
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
