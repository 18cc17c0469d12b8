/**
 * Runs at most `limit` of some costly work at once in this process; the rest wait their turn, first come first served.
 * For work whose cost grows with stored data rather than with the request (verifyAuditTrail reads a whole chain): a
 * probe's 20 concurrent requests of 3 verifications each of a 3,000-event chain held every other request of the
 * process for up to 46 s, and failed its readiness check.
 */
export class ConcurrencyGate {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error('a concurrency gate needs a limit of at least 1');
  }

  /** How many are running and waiting now (for tests and metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running += 1;
    try {
      return await work();
    } finally {
      // The slot passes to the next in line as it is: `running` counts it still.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }
}
