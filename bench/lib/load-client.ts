import path from 'node:path';
import type { LoadJob, LoadResult } from '../load-worker.js';
import { IpcPeer, spawnTs, waitForMessage } from './child-process.js';

export type { LoadResult };

/** The long-lived load generator process (bench/load-worker.ts). */
export class LoadClient {
  private constructor(private readonly peer: IpcPeer) {}

  static async start(logDir: string): Promise<LoadClient> {
    const child = spawnTs('load-worker.ts', { logFile: path.join(logDir, 'load-worker.log') });
    await waitForMessage(child, (m) => m['ready'] === true, 'load worker', 60_000);
    return new LoadClient(new IpcPeer('load worker', child));
  }

  run(job: Omit<LoadJob, 'id'>): Promise<LoadResult> {
    // A job that hangs past every request timeout is a harness bug: do not wait forever.
    const limitMs = Math.max(60_000, job.amount * job.timeoutSeconds * 1000);
    return this.peer.call<LoadResult>(job as unknown as Record<string, unknown>, limitMs);
  }

  async stop(): Promise<void> {
    this.peer.child.disconnect();
    await this.peer.waitForExit(5000);
  }
}
