import { describe, expect, it } from 'vitest';
import { ConcurrencyGate } from '../../src/hardening/concurrency-gate.js';

describe('ConcurrencyGate', () => {
  it('runs at most its limit at once, the rest in the order they came, and frees a slot whatever the work did', async () => {
    const gate = new ConcurrencyGate(2);
    const releases: Array<() => void> = [];
    const started: number[] = [];
    const work = (i: number) =>
      gate.run(async () => {
        started.push(i);
        await new Promise<void>((resolve) => releases.push(resolve));
        if (i === 1) throw new Error('failed work');
        return i;
      });
    const results = [0, 1, 2, 3, 4].map((i) => work(i).catch((error: Error) => error.message));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1]);
    expect(gate.load).toEqual({ running: 2, waiting: 3 });
    releases[1]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);
    for (let i = 0; i < 5; i++) {
      releases[i]?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    releases.forEach((release) => release());
    expect(await Promise.all(results)).toEqual([0, 'failed work', 2, 3, 4]);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses a limit below one', () => {
    expect(() => new ConcurrencyGate(0)).toThrow(/at least 1/);
  });
});
