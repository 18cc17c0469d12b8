/**
 * The production command, read from the Dockerfile's CMD so that there is one
 * definition: the benchmark runs its servers with the same node flags, and a
 * test starts the compiled build with them.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../', import.meta.url));

export interface ProductionCommand {
  /** Flags given to node before the entry point (V8 heap settings). */
  nodeFlags: string[];
  /** The entry point, relative to the image's working directory (the repository root). */
  entry: string;
}

export function readProductionCommand(dockerfile = path.join(repoRoot, 'Dockerfile')): ProductionCommand {
  const cmd = readFileSync(dockerfile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('CMD '))
    .at(-1);
  if (cmd === undefined) throw new Error(`${dockerfile}: no CMD line`);
  const argv = JSON.parse(cmd.slice(4)) as unknown;
  if (!Array.isArray(argv) || argv[0] !== 'node' || !argv.every((a) => typeof a === 'string')) {
    throw new Error(`${dockerfile}: CMD must be the exec form ["node", ...flags, entry]`);
  }
  const rest = argv.slice(1) as string[];
  const entry = rest.at(-1);
  if (entry === undefined || entry.startsWith('-')) throw new Error(`${dockerfile}: CMD names no entry point`);
  return { nodeFlags: rest.slice(0, -1), entry };
}

/** Runs the project's tsc (as `npm run build` does) with the given arguments; a failure carries tsc's own output. */
export async function runTsc(args: readonly string[]): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, ...args], { timeout: 300_000 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc ${args.join(' ')} failed:\n${stdout}${stderr}`);
  }
}
