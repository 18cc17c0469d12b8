import { createServer } from 'node:net';
import { createApp, type App } from './app.js';
import { loadConfigFromProcess, type AppConfig, type ResolvedConfig } from './config.js';
import { prepareDevEnvironment, type DevEnvironment } from './dev/dev-environment.js';
import { printDevWelcome } from './dev/dev-welcome.js';
import { seedDemoData } from './dev/demo-seed.js';
import { ConfigError, describeCause, StartupError } from './errors.js';
import { createLogger } from './observability/logger.js';

// Start-up only: config -> connections -> subgraph -> listen; graceful stop on SIGTERM/SIGINT/SIGHUP.
async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfigFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const line of error.message.split('\n')) console.error(`veil: configuration error: ${line}`);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const say = (line: string) => console.log(`veil: ${line}`);

  let dev: DevEnvironment | null = null;
  let resolved: ResolvedConfig;
  if (config.env === 'production') {
    resolved = config as ResolvedConfig;
    // Before the stores are connected: a PORT in use was named after warnings that the start went on (a probe).
    await assertPortFree(config.port, config.host);
  } else {
    say(`starting in ${config.env} mode (NODE_ENV=production serves only, with your configuration)`);
    // Before the dev services start and 300 customers are seeded: a PORT in use was reported only after both (a probe).
    await assertPortFree(config.port, config.host);
    try {
      dev = await prepareDevEnvironment(config, say);
    } catch (error) {
      if (error instanceof ConfigError) {
        for (const line of error.message.split('\n')) console.error(`veil: configuration error: ${line}`);
        process.exit(78);
      }
      throw error;
    }
    resolved = dev.config;
  }

  let app: App | null = null;
  let isStopping = false;
  const stop = async (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    logger.info({ signal }, 'stopping');
    // Requests still running then are cut: one may have written its data and not yet its audit event.
    const force = setTimeout(() => {
      logger.error({ graceSeconds: resolved.shutdownGraceSeconds }, 'requests still running at the end of SHUTDOWN_GRACE_SECONDS; exiting');
      process.exit(1);
    }, resolved.shutdownGraceSeconds * 1000);
    force.unref();
    try {
      await app?.stop();
      logger.info('subgraph stopped');
      if (dev?.services) {
        await dev.services.stop();
        logger.info('dev services stopped');
      }
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // A closed terminal or a dropped SSH session: without this, node died at once and its redis-server lived on (a probe).
  process.on('SIGHUP', () => void stop('SIGHUP'));

  try {
    app = await createApp({ config: resolved, logger, jwks: dev?.jwks ?? null });
  } catch (error) {
    await dev?.services?.stop();
    // Lines from ConfigError and StartupError name the variable and quote nothing secret; anything else is a bug.
    if (error instanceof ConfigError) {
      for (const line of error.message.split('\n')) console.error(`veil: configuration error: ${line}`);
      // Development keys made anew (dev-keys.json removed) against a dev database written under the old ones.
      if (dev?.keysAreNew && /^(IDENTITY_HMAC_KEYS|PII_MASTER_KEY):/.test(error.message)) {
        console.error(`veil: configuration error: ${resolved.dataDir}/dev-keys.json was created anew, but the database holds data written under the keys it replaced: restore that file, or remove ${resolved.dataDir} to start afresh`);
      }
      process.exit(78);
    }
    console.error(`veil: cannot start: ${error instanceof StartupError ? error.message : describeCause(error)}`);
    process.exit(1);
  }

  const listen = async (): Promise<number> => {
    try {
      return await app!.subgraph.listen(resolved.port, resolved.host);
    } catch (error) {
      // Name the variable to change: `listen EADDRINUSE` or `getaddrinfo ENOTFOUND` alone named nothing (a probe).
      console.error(cannotListen(String((error as { code?: unknown }).code ?? describeCause(error)), resolved.port, resolved.host));
      await app?.stop().catch(() => undefined);
      await dev?.services?.stop();
      process.exit(1);
    }
  };
  if (dev) {
    let seed: Awaited<ReturnType<typeof seedDemoData>>;
    try {
      seed = await seedDemoData(app.mongo.db, app.services, 300, say);
    } catch (error) {
      // Ctrl-C while seeding closes the client under it: the stop under way exits 0 (it ended as `fatal`, exit 1).
      if (isStopping) return new Promise<void>(() => undefined);
      throw error;
    }
    if (seed.holdsOtherData) {
      say(`the database ${resolved.mongodbDb} holds customers the demo seed did not write: no demo data seeded into it (serve it with NODE_ENV=production, or give development a database of its own with MONGODB_DB)`);
    } else if (!seed.seeded) say(`demo data already present (${seed.customers} customers); not seeding again`);
    const port = await listen();
    await printDevWelcome({ port, dev, demoCustomerId: seed.demoCustomerId });
  } else {
    const port = await listen();
    logger.info({ port }, 'veil subgraph serving');
  }
}

/** Whether PORT on HOST can be listened on, checked before anything starts; exits 1 naming the variable when not. */
async function assertPortFree(port: number, host: string): Promise<void> {
  // PORT 0 too: the listen checks HOST (an unresolvable one was named only after the dev services and the seed).
  const server = createServer();
  const code = await new Promise<string | null>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen(port, host, () => server.close(() => resolve(null)));
  });
  if (code === null) return;
  console.error(cannotListen(code, port, host));
  process.exit(1);
}

function cannotListen(code: string, port: number, host: string): string {
  // EACCES: a port below 1024 for a process without the privilege (the image runs as `node`); a probe saw it blamed on HOST.
  const problem =
    code === 'EADDRINUSE' ? `PORT: ${port} is in use on ${host}` : code === 'EACCES' ? `PORT: ${port} needs privileges this process does not have (use a port of 1024 or more)` : `HOST: cannot listen on ${host}:${port}`;
  return `veil: cannot start: ${problem} (${code})`;
}

main().catch((error: unknown) => {
  console.error(`veil: fatal: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
