/**
 * Outage simulation for integration tests. The servers belong to the vitest
 * main process (test/global-setup.ts); a test worker asks that process, over
 * the loopback control endpoint named in the control file, to stop or start
 * one. The server comes back on the same port with the same data directory,
 * so code under test sees the same URL recover.
 *
 * Stopping a shared server affects every test file running at that moment.
 * A file whose tests must not disturb others can use startPrivateServices().
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { startDevServices, type DevServices } from '../../src/dev/services.js';

export type ControlledService = 'redis' | 'mongo';
export type ControlAction = 'stop' | 'start';

/** Written by test/global-setup.ts; rewritten after every stop/start. */
export interface ServicesControlFile {
  controlUrl: string;
  dataDir: string;
  redis: { url: string; kind: string; pid: number | null; logFile: string | null };
  mongo: { url: string; kind: string; pid: number | null; logFile: string | null };
}

export const stopRedis = (): Promise<void> => control('redis', 'stop');
export const startRedis = (): Promise<void> => control('redis', 'start');
export const stopMongo = (): Promise<void> => control('mongo', 'stop');
export const startMongo = (): Promise<void> => control('mongo', 'start');

/** False when the server was given by URL (REDIS_URL / MONGODB_URL): tests that need an outage should skip. */
export function canControl(service: ControlledService): boolean {
  return (service === 'redis' ? inject('redisKind') : inject('mongoKind')) !== 'external';
}

export async function readServicesControlFile(): Promise<ServicesControlFile> {
  const file = inject('servicesControlFile');
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!isControlFile(parsed)) throw new Error(`${file} is not a services control file`);
  return parsed;
}

async function control(service: ControlledService, action: ControlAction): Promise<void> {
  const file = await readServicesControlFile();
  if (file[service].kind === 'external') {
    throw new Error(`${service} is external (${file[service].url}); it cannot be ${action === 'stop' ? 'stopped' : 'started'} by tests`);
  }
  const response = await fetch(`${file.controlUrl}/${service}/${action}`, { method: 'POST' });
  if (!response.ok) {
    throw new Error(`could not ${action} ${service}: ${response.status} ${await response.text()}`);
  }
}

/**
 * Servers of this test file's own, in a fresh temp directory, whatever
 * MONGODB_URL / REDIS_URL say: outages on them affect no other file.
 * stop() also removes the directory.
 */
export async function startPrivateServices(): Promise<DevServices> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'veil-private-'));
  let services: DevServices;
  try {
    services = await startDevServices({ dataDir });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const stopServers = services.stop.bind(services);
  return Object.assign(services, {
    async stop() {
      await stopServers();
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

function isControlFile(value: unknown): value is ServicesControlFile {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const isServer = (server: unknown): boolean =>
    typeof server === 'object' && server !== null && typeof (server as Record<string, unknown>)['url'] === 'string';
  return typeof record['controlUrl'] === 'string' && isServer(record['redis']) && isServer(record['mongo']);
}
