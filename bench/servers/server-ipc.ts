/**
 * The parent (bench/run.ts) talks to each benchmark server over Node's IPC
 * channel: the server reports its port once it listens, and answers control
 * messages (load data, read counters). Nothing of this is reachable over HTTP,
 * so the measured request path carries no bench-only code.
 */
export interface ControlMessage {
  id: number;
  command: string;
  payload?: unknown;
}

export type ControlHandler = (command: string, payload: unknown) => unknown;

export function reportListening(port: number, extra: Record<string, unknown> = {}): void {
  if (!process.send) throw new Error('a benchmark server must be started by bench/run.ts (it needs the IPC channel)');
  process.send({ type: 'listening', port, pid: process.pid, ...extra });
}

/** Answers control messages; after answering `stop` (the handler closes what it must first) the process exits. */
export function serveControl(handler: ControlHandler): void {
  process.on('message', (raw: unknown) => {
    const message = raw as ControlMessage;
    if (typeof message !== 'object' || message === null || typeof message.id !== 'number') return;
    const exitIfStopping = () => {
      // A clean exit also writes a --cpu-prof profile; a signal would not.
      if (message.command === 'stop') setTimeout(() => process.exit(0), 50);
    };
    Promise.resolve()
      .then(() => handler(message.command, message.payload))
      .then(
        (result) => process.send?.({ type: 'reply', id: message.id, result }, exitIfStopping),
        (error: unknown) => process.send?.({ type: 'reply', id: message.id, error: error instanceof Error ? error.message : String(error) }, exitIfStopping),
      );
  });
  // An orphaned server (the runner died) must not outlive the run.
  process.on('disconnect', () => process.exit(0));
}

/** Reads a JSON request body (the bare servers; S has its own handler). */
export async function readBody(req: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
