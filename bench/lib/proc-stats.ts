import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | null = null;

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux almost always). */
export function getClockTicks(): number {
  if (clockTicks === null) {
    const text = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const value = Number.parseInt(text, 10);
    clockTicks = Number.isFinite(value) && value > 0 ? value : 100;
  }
  return clockTicks;
}

/** utime + stime of one process (all its threads), in clock ticks. */
export function readCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14 and stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot read CPU times of process ${pid}`);
  return utime + stime;
}

/** CPU milliseconds from a tick difference. */
export function ticksToMs(ticks: number): number {
  return (ticks * 1000) / getClockTicks();
}

/** Resident set size in MB (VmRSS of /proc/<pid>/status). */
export function readRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`cannot read VmRSS of process ${pid}`);
  return Number(match[1]) / 1024;
}

/** Samples RSS every `intervalMs` until stopped; keeps every sample (the soak needs the curve). */
export class RssSampler {
  readonly samples: Array<{ atMs: number; rssMb: number }> = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): { maxMb: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return { maxMb: Math.max(...this.samples.map((s) => s.rssMb)), samples: this.samples.length };
  }

  private sample(): void {
    try {
      this.samples.push({ atMs: Date.now() - this.started, rssMb: readRssMb(this.pid) });
    } catch (error) {
      // The process may be gone at the very end of a run; the samples taken so far stand.
      if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
    }
  }
}
