import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
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
  /** Verdicts remembered (clients use a handful of names; the oldest is forgotten first). */
  maxRemembered?: number;
  /** How long a verdict holds; other replicas file identifiers this one is not told of (default 60 s). */
  rememberMs?: number;
  /** Screens running at once; a name that finds no free slot is not recorded this time. */
  maxRunning?: number;
}

/**
 * Operation names are the caller's text, kept in the request's log line (metric labels use the root field instead:
 * operationLabel). isRecordableName keeps out what looks like a phone number or an address; a customer's CRM id
 * (`CUST_1fddf0X`) looks like any other name and was logged (a probe). So each distinct name is screened against the
 * stored identifiers (CustomerService.namesAnIdentifier: one `find`) before it is recorded, as an `x-request-id` is.
 *
 * Both verdicts are remembered, for `rememberMs`, under a keyed hash of the name (a key of this process's own), never
 * the name: a name that is a CRM id is not kept in clear. Remembering only names that passed made a stored CRM id cost
 * a `find` on every request that carried it, which a caller with no scope could time (about 2 ms; a probe). Every
 * verdict is forgotten when this process files an identifier (a name cleared before its CRM id was registered was
 * logged from then on; a probe); `rememberMs` bounds what other replicas file.
 */
export class NameScreen {
  private readonly verdicts = new Map<string, { namesSomeone: boolean; until: number }>();
  private readonly running = new Map<string, Promise<boolean>>();
  // A KeyObject: createHmac imports a Buffer key anew on every call (7.6 against 4.7 µs per name, twice a request).
  private readonly key = createSecretKey(randomBytes(32));
  /** Counts forget() calls: a screen that was running across one does not remember its verdict. */
  private forgetCount = 0;
  private readonly maxRemembered: number;
  private readonly rememberMs: number;
  private readonly maxRunning: number;

  constructor(
    private readonly namesAnIdentifier: ((name: string) => Promise<boolean>) | undefined,
    options: NameScreenOptions = {},
  ) {
    this.maxRemembered = options.maxRemembered ?? 1000;
    this.rememberMs = options.rememberMs ?? 60_000;
    this.maxRunning = options.maxRunning ?? 4;
  }

  /**
   * What is remembered of `name`: true when it names someone, false when it names nobody, undefined when not known.
   * Callers take both verdicts alike (one lookup, no shape check): a name remembered as naming someone that was checked
   * for its shape again answered 65 µs later than one that names nobody, which a caller could time (a probe).
   */
  knownVerdict(name: string): boolean | undefined {
    return this.verdictOf(this.keyOf(name));
  }

  /** Whether `name` may be recorded: known to name nobody, or found so within `waitMs` (the screen goes on after). */
  async clear(name: string, waitMs: number): Promise<boolean> {
    if (this.namesAnIdentifier === undefined) return true;
    const key = this.keyOf(name);
    const known = this.verdictOf(key);
    if (known !== undefined) return !known;
    const screen = this.screen(key, name, this.namesAnIdentifier);
    return screen !== null && (await settleWithin(screen, waitMs)) === true;
  }

  /** Forgets every verdict: an identifier is being filed, and a name cleared before may name it. */
  forget(): void {
    this.verdicts.clear();
    this.forgetCount += 1;
  }

  private keyOf(name: string): string {
    return createHmac('sha256', this.key).update(name).digest('base64url');
  }

  private verdictOf(key: string): boolean | undefined {
    const verdict = this.verdicts.get(key);
    if (verdict === undefined) return undefined;
    if (verdict.until > Date.now()) return verdict.namesSomeone;
    this.verdicts.delete(key);
    return undefined;
  }

  private screen(key: string, name: string, namesAnIdentifier: (name: string) => Promise<boolean>): Promise<boolean> | null {
    const running = this.running.get(key);
    if (running) return running;
    if (this.running.size >= this.maxRunning) return null;
    const forgottenAt = this.forgetCount;
    const screen = namesAnIdentifier(name)
      .then((namesSomeone) => {
        if (forgottenAt === this.forgetCount) this.remember(key, namesSomeone);
        return !namesSomeone;
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, screen);
    return screen;
  }

  private remember(key: string, namesSomeone: boolean): void {
    if (this.verdicts.size >= this.maxRemembered) this.verdicts.delete(this.verdicts.keys().next().value as string);
    this.verdicts.set(key, { namesSomeone, until: Date.now() + this.rememberMs });
  }
}
