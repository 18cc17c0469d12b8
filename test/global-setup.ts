/**
 * Starts the real servers the integration tests use (see src/dev/services.ts)
 * once per vitest run, in a fresh temp directory, and serves a small loopback
 * control endpoint so that test workers can stop and start them. The servers
 * stay children of this (main) process, which is what kills them on exit.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startDevServices, type DevServices } from '../src/dev/services.js';
import type { ControlAction, ControlledService, ServicesControlFile } from './testkit/service-control.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
    mongoKind: string;
    redisKind: string;
    servicesControlFile: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'veil-test-'));
  const mongoUrl = nonEmpty(process.env['MONGODB_URL']);
  const redisUrl = nonEmpty(process.env['REDIS_URL']);
  let services: DevServices;
  try {
    services = await startDevServices({
      dataDir,
      ...(mongoUrl === undefined ? {} : { mongoUrl }),
      ...(redisUrl === undefined ? {} : { redisUrl }),
      log: (line) => console.log(`[test services] ${line}`),
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  const controlFile = path.join(dataDir, 'services-control.json');
  const writeControlFile = async (controlUrl: string): Promise<void> => {
    const pids = services.pids();
    const logFile = (name: string): string | null => (name === 'external' ? null : path.join(dataDir, `${name}.log`));
    const content: ServicesControlFile = {
      controlUrl,
      dataDir,
      redis: { url: services.redisUrl, kind: services.redisKind, pid: pids.redis ?? null, logFile: logFile(services.redisKind) },
      mongo: { url: services.mongoUrl, kind: services.mongoKind, pid: pids.mongo ?? null, logFile: logFile(services.mongoKind) },
    };
    await writeFile(controlFile, `${JSON.stringify(content, null, 2)}\n`);
  };

  // PIDs change on every restart; the file keeps showing the live ones.
  let controlUrl = '';
  const control = await startControlServer(services, () => writeControlFile(controlUrl));
  const address = control.address();
  if (address === null || typeof address !== 'object') throw new Error('control server has no TCP address');
  controlUrl = `http://127.0.0.1:${address.port}`;
  await writeControlFile(controlUrl);

  project.provide('mongoUrl', services.mongoUrl);
  project.provide('redisUrl', services.redisUrl);
  project.provide('mongoKind', services.mongoKind);
  project.provide('redisKind', services.redisKind);
  project.provide('servicesControlFile', controlFile);
  process.env['VEIL_TEST_MONGODB_URL'] = services.mongoUrl;
  process.env['VEIL_TEST_REDIS_URL'] = services.redisUrl;
  process.env['VEIL_TEST_SERVICES_CONTROL_FILE'] = controlFile;

  return async () => {
    control.closeAllConnections();
    await new Promise<void>((resolve) => control.close(() => resolve()));
    await services.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

async function startControlServer(services: DevServices, onChange: () => Promise<void>): Promise<Server> {
  const actions: Record<`${ControlledService}/${ControlAction}`, () => Promise<void>> = {
    'redis/stop': () => services.stopRedis(),
    'redis/start': () => services.startRedis(),
    'mongo/stop': () => services.stopMongo(),
    'mongo/start': () => services.startMongo(),
  };
  const isAction = (key: string): key is keyof typeof actions => Object.hasOwn(actions, key);

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const key = (request.url ?? '').replace(/^\//, '');
    if (request.method !== 'POST' || !isAction(key)) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('use POST /{redis|mongo}/{stop|start}\n');
      return;
    }
    try {
      await actions[key]();
      await onChange();
      response.writeHead(204).end();
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(error instanceof Error ? error.message : String(error));
    }
  };

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}
