import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What `promise` settles to, or `'late'` once `ms` have passed (a rejection is `'failed'`): for checks that a request
 * waits for only so long.
 */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'late' | 'failed'> {
  const timer = new AbortController();
  const late = sleep(ms, 'late' as const, { signal: timer.signal }).catch(() => 'late' as const);
  try {
    return await Promise.race([promise.catch(() => 'failed' as const), late]);
  } finally {
    timer.abort();
  }
}

/**
 * How long a request waits, in all, for its `x-request-id` and its operation name to be screened: one budget, since
 * the two screens run one after the other (each had 250 ms of its own, and a hung MongoDB held a request for 500 ms;
 * a probe).
 */
export const SCREENS_MS = 250;

export interface NameScreenOptions {
  /** Names remembered as naming nobody (clients use a handful; the oldest is forgotten first). */
  maxCleared?: number;
  /** Screens running at once; a name that finds no free slot is not recorded this time. */
  maxRunning?: number;
}

/**
 * Operation names are the caller's text, kept in the request's log line (metric labels use the root field instead:
 * operationLabel). isRecordableName keeps out what looks like a phone number or an address; a customer's CRM id
 * (`CUST_1fddf0X`) looks like any other name and was logged (a probe). So each distinct name is screened
 * once against the stored identifiers (CustomerService.namesAnIdentifier: one `find`) before it is recorded, as an
 * `x-request-id` is. A name that passed is remembered; one that names an identifier is not (it is one), and is
 * screened again whenever it comes back.
 */
export class NameScreen {
  private readonly cleared = new Set<string>();
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly maxCleared: number;
  private readonly maxRunning: number;

  constructor(
    private readonly namesAnIdentifier: ((name: string) => Promise<boolean>) | undefined,
    options: NameScreenOptions = {},
  ) {
    this.maxCleared = options.maxCleared ?? 1000;
    this.maxRunning = options.maxRunning ?? 4;
  }

  /**
   * Whether `name` was screened and found to name nobody. Such a name also passed isRecordableName when it was screened
   * (both callers check that first), so a request that carries it again skips the shape check (about 45 µs a name).
   */
  isCleared(name: string): boolean {
    return this.cleared.has(name);
  }

  /** Whether `name` may be recorded: known to name nobody, or found so within `waitMs` (the screen goes on after). */
  async clear(name: string, waitMs: number): Promise<boolean> {
    if (this.namesAnIdentifier === undefined || this.cleared.has(name)) return true;
    const screen = this.screen(name, this.namesAnIdentifier);
    return screen !== null && (await settleWithin(screen, waitMs)) === true;
  }

  private screen(name: string, namesAnIdentifier: (name: string) => Promise<boolean>): Promise<boolean> | null {
    const running = this.running.get(name);
    if (running) return running;
    if (this.running.size >= this.maxRunning) return null;
    const screen = namesAnIdentifier(name)
      .then((names) => {
        if (!names) this.remember(name);
        return !names;
      })
      .finally(() => this.running.delete(name));
    this.running.set(name, screen);
    return screen;
  }

  private remember(name: string): void {
    if (this.cleared.size >= this.maxCleared) this.cleared.delete(this.cleared.values().next().value as string);
    this.cleared.add(name);
  }
}
