import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startDevServices } from '../src/dev/services.js';
import { canControl, readServicesControlFile, startMongo, startPrivateServices, startRedis, stopMongo, stopRedis } from './testkit/service-control.js';

const mongoUrl = inject('mongoUrl');
const redisUrl = inject('redisUrl');
const runId = `${process.pid}_${Date.now()}`;

// ioredis reports every failed (re)connect as an 'error' event, which is
// expected during an outage; kept here rather than printed as unhandled.
const redisConnectionErrors: Error[] = [];

/** A client that fails at once instead of queueing and reconnecting, to observe reachability. */
function strictRedis(): Redis {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
  });
  client.on('error', (error: Error) => redisConnectionErrors.push(error));
  return client;
}

function canConnect(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('dev services', () => {
  it('provides the URLs to workers through inject and the environment', () => {
    expect(mongoUrl).toMatch(/^mongodb:\/\//);
    expect(redisUrl).toMatch(/^rediss?:\/\//);
    expect(['external', 'mongod', 'ferretdb']).toContain(inject('mongoKind'));
    expect(process.env['VEIL_TEST_MONGODB_URL']).toBe(mongoUrl);
    expect(process.env['VEIL_TEST_REDIS_URL']).toBe(redisUrl);
  });

  describe('MongoDB', () => {
    const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000 });
    const db = client.db(`veil_dev_services_${runId}`);
    afterAll(async () => {
      await db.dropDatabase();
      await client.close();
    });

    it('inserts and finds a document', async () => {
      const customers = db.collection<{ _id: string; name: string; createdAt: Date }>('customers');
      const createdAt = new Date('2024-05-01T12:00:00Z');
      await customers.insertOne({ _id: 'c1', name: 'Ada', createdAt });
      expect(await customers.findOne({ _id: 'c1' })).toEqual({ _id: 'c1', name: 'Ada', createdAt });
    });

    it.skipIf(!canControl('mongo'))('comes back at the same URL with its data after stopMongo/startMongo', async () => {
      const before = await readServicesControlFile();
      await stopMongo();
      expect(await canConnect(mongoUrl)).toBe(false);
      await startMongo();
      const after = await readServicesControlFile();
      expect(after.mongo.url).toBe(mongoUrl);
      expect(after.mongo.pid).not.toBe(before.mongo.pid);

      // The data directory is reused, so what was written before the outage is still there.
      const fresh = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000 });
      try {
        const found = await fresh
          .db(db.databaseName)
          .collection<{ _id: string; name: string }>('customers')
          .findOne({ _id: 'c1' });
        expect(found?.['name']).toBe('Ada');
      } finally {
        await fresh.close();
      }
    });
  });

  describe('Redis', () => {
    const redis = new Redis(redisUrl, { lazyConnect: true });
    redis.on('error', (error: Error) => redisConnectionErrors.push(error));
    afterAll(async () => {
      redis.disconnect();
    });

    it('sets a key with an expiry and reads it back', async () => {
      const key = `veil:test:dev-services:${runId}`;
      expect(await redis.set(key, 'value', 'PX', 30_000)).toBe('OK');
      expect(await redis.get(key)).toBe('value');
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30_000);
      await redis.del(key);
    });

    it.skipIf(!canControl('redis'))('is unreachable after stopRedis and reachable at the same URL after startRedis', async () => {
      const before = await readServicesControlFile();
      await stopRedis();
      try {
        expect(await canConnect(redisUrl)).toBe(false);
        const offline = strictRedis();
        await expect(offline.connect()).rejects.toThrow();
        offline.disconnect();
      } finally {
        await startRedis();
      }

      const after = await readServicesControlFile();
      expect(after.redis.url).toBe(redisUrl);
      expect(after.redis.pid).not.toBe(before.redis.pid);

      const online = strictRedis();
      try {
        await online.connect();
        expect(await online.ping()).toBe('PONG');
      } finally {
        online.disconnect();
      }
      // A long-lived client with default settings reconnects by itself.
      expect(await redis.ping()).toBe('PONG');
      expect(redisConnectionErrors.map((error) => error.message).join('\n')).toMatch(/ECONNREFUSED/);
    });
  });
});

describe('FerretDB data at rest', () => {
  // Erasure deletes support records; SQLite keeps deleted rows' bytes in free page space unless
  // secure_delete is on (tools/ferretdb/main.go). The WAL holds old pages until its next checkpoint;
  // stopping the server checkpoints it, so after a stop nothing deleted may be left in the files.
  it('leaves no byte of deleted documents in its files once they are checkpointed', async (ctx) => {
    const services = await startPrivateServices();
    try {
      if (services.mongoKind !== 'ferretdb') ctx.skip();
      const client = new MongoClient(services.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
      const marker = `ERASED-MARKER-${runId}-`;
      try {
        const records = client.db('veil_at_rest').collection('support_records');
        await records.insertMany(Array.from({ length: 50 }, (_, i) => ({ customerId: `cus_${i}`, subject: `${marker}${i}`, pad: 'x'.repeat(200) })));
        await records.insertMany(Array.from({ length: 200 }, (_, i) => ({ customerId: `other_${i}`, subject: `kept ${i}`, pad: 'y'.repeat(200) })));
        expect((await records.deleteMany({ subject: { $regex: `^${marker}` } })).deletedCount).toBe(50);
      } finally {
        await client.close();
      }
      await services.stopMongo();
      const dir = path.join(services.dataDir, 'ferretdb');
      const files = await readdir(dir);
      expect(files.some((f) => f.endsWith('.sqlite'))).toBe(true);
      for (const file of files) {
        const bytes = await readFile(path.join(dir, file));
        expect(bytes.includes(marker), `${file} still holds deleted documents`).toBe(false);
        // The documents that were not deleted are there: the scan reads the right files.
        if (file === 'veil_at_rest.sqlite') expect(bytes.includes('kept 199')).toBe(true);
      }
    } finally {
      await services.stop();
    }
  });
});

describe('servers a start left running', () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  /** A start of the dev services in a process of its own, as `npm start` runs them; resolves with their pids. */
  function startInChild(dataDir: string): Promise<{ child: ChildProcess; pids: { redis: number; mongo: number } }> {
    const script = `import { startDevServices } from ${JSON.stringify(path.resolve('src/dev/services.ts'))};
const services = await startDevServices({ dataDir: ${JSON.stringify(dataDir)} });
console.log(JSON.stringify(services.pids()));
setInterval(() => undefined, 60_000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve({ child, pids: JSON.parse(line) as { redis: number; mongo: number } });
      });
      child.once('exit', (code) => reject(new Error(`the child start exited with ${code}`)));
    });
  }

  /** A start that must be refused: its message, or 'started' (after stopping what it started, so no test leaks servers). */
  const attemptStart = (dataDir: string): Promise<string> =>
    startDevServices({ dataDir }).then(
      async (services) => {
        await services.stop();
        return 'started';
      },
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );

  // Two starts launched at the same moment both passed the check of /proc before either had spawned a server, and ran
  // two FerretDBs over one set of SQLite files (a probe): the directory is now taken with an exclusive lock file first.
  it('lets one of two starts launched at the same moment on one directory run, and refuses the other', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'veil-race-'));
    try {
      const results = await Promise.allSettled([startDevServices({ dataDir }), startDevServices({ dataDir })]);
      const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
      try {
        expect(started).toHaveLength(1);
        expect(refused).toEqual([expect.stringMatching(new RegExp(`another start \\(pid ${process.pid}\\) is running`))]);
      } finally {
        for (const services of started) await services.stop();
      }
      // Released by the stop: the next start takes the directory.
      expect(await attemptStart(dataDir)).toBe('started');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  // A lock left by a start killed with SIGKILL: two starts that both found it stale each deleted the other's new lock
  // and both ran (a regression probe, 5 of 20 runs); a pid that is no start (a kernel thread, this process's own pid
  // from an earlier life, as a container's pid 1) was taken for a running start, and every start was refused.
  it('lets one of many starts take over a stale lock, and takes no reused pid for a running start', async () => {
    const { takeStartLock } = await import('../src/dev/leftover-servers.js');
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'veil-stale-'));
    const lock = path.join(dataDir, '.start.lock');
    try {
      for (const stale of ['999999999', '2', String(process.pid)]) {
        for (let round = 0; round < 10; round++) {
          await writeFile(lock, `${stale}\n`);
          const results = await Promise.allSettled(Array.from({ length: 4 }, () => takeStartLock(dataDir)));
          const taken = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          expect({ stale, round, taken: taken.length }).toEqual({ stale, round, taken: 1 });
          for (const r of results) if (r.status === 'rejected') expect(String((r.reason as Error).message)).toMatch(new RegExp(`another start \\(pid ${process.pid}\\)`));
          await taken[0]!();
        }
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stops the servers of a start killed with SIGKILL, and refuses to start beside a start that still runs', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'veil-leftover-'));
    const cleanUp: number[] = [];
    try {
      const first = await startInChild(dataDir);
      cleanUp.push(first.child.pid!, first.pids.redis, first.pids.mongo);
      // Still running: a second start on the same directory is refused and touches nothing.
      expect(await attemptStart(dataDir)).toMatch(new RegExp(`another start \\(pid ${first.child.pid}\\)`));
      // Also when the directory is reached through a link (a probe ran two starts side by side that way).
      await symlink(dataDir, `${dataDir}-link`);
      expect(await attemptStart(`${dataDir}-link`)).toMatch(new RegExp(`another start \\(pid ${first.child.pid}\\)`));
      expect(alive(first.pids.redis) && alive(first.pids.mongo)).toBe(true);

      first.child.kill('SIGKILL');
      await new Promise((resolve) => first.child.once('exit', resolve));
      // Orphaned, both still serve: nobody else would ever stop them.
      expect(alive(first.pids.redis) && alive(first.pids.mongo)).toBe(true);
      const lines: string[] = [];
      const second = await startDevServices({ dataDir, log: (line) => lines.push(line) });
      try {
        expect(alive(first.pids.redis)).toBe(false);
        expect(alive(first.pids.mongo)).toBe(false);
        expect(lines.filter((l) => l.startsWith('stopping '))).toHaveLength(2);
        expect(await canConnect(second.mongoUrl)).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      for (const pid of cleanUp) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
      await rm(`${dataDir}-link`, { force: true });
    }
  }, 120_000);
});
