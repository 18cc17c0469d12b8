import { spawn } from 'node:child_process';
import { repoRoot } from '../../scripts/production-runtime.js';

/** Runs one of scripts/ as its npm command does (`tsx`), with only PATH and `env`; its exit code and all it printed. */
export function runScript(file: string, args: readonly string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: repoRoot, env: { PATH: process.env['PATH'] ?? '', ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}
