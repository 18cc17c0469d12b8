import { resolve } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import type { AppConfig, ResolvedConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { DEV_AUDIENCE, DEV_ISSUER, devJwks, loadOrCreateDevKeys, type DevKeys } from './dev-keys.js';
import { startDevServices, type DevServices } from './services.js';

export interface DevEnvironment {
  config: ResolvedConfig;
  /** Set when the dev signing key is trusted (no JWKS configured): `npm start` prints tokens signed with it. */
  devKeys: DevKeys | null;
  jwks: JSONWebKeySet | null;
  services: DevServices | null;
  /** Whether this start generated dev-keys.json (a database written under the old keys then refuses them). */
  keysAreNew: boolean;
}

/** File-system errors that say the data directory cannot hold the dev servers' data. */
const DATA_DIR_ERRORS = new Set(['EEXIST', 'ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'EISDIR']);

/**
 * Fills what development leaves unset: local MongoDB-compatible and Redis
 * servers, and dev keys kept in the data directory. Never used in production.
 */
export async function prepareDevEnvironment(config: AppConfig, log: (line: string) => void): Promise<DevEnvironment> {
  if (config.env === 'production') throw new Error('prepareDevEnvironment must not run in production');
  const dataDir = resolve(config.dataDir);
  let loaded: Awaited<ReturnType<typeof loadOrCreateDevKeys>>;
  try {
    loaded = await loadOrCreateDevKeys(dataDir);
  } catch (error) {
    // A file where the directory should be, or a directory it may not write: `fatal: EEXIST` named nothing (a probe).
    const reason = error instanceof SyntaxError ? error.message : String((error as { code?: unknown }).code ?? 'unreadable');
    throw new ConfigError(`VEIL_DATA_DIR: cannot keep development data in ${dataDir} (${reason})`);
  }
  const { keys, isNew } = loaded;
  if (isNew) log(`generated development keys in ${dataDir}/dev-keys.json (never use them in production)`);

  let services: DevServices | null = null;
  if (!config.mongodbUrl || !config.redisUrl) {
    try {
      services = await startDevServices({ dataDir, mongoUrl: config.mongodbUrl ?? undefined, redisUrl: config.redisUrl ?? undefined, log });
    } catch (error) {
      // A file where a server's directory should be (`.data/ferretdb`): `fatal: EEXIST: file already exists, mkdir`
      // named nothing to change (a probe).
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && DATA_DIR_ERRORS.has(code)) throw new ConfigError(`VEIL_DATA_DIR: cannot keep development data in ${dataDir} (${code})`);
      throw error;
    }
  }
  const isDevKeyTrusted = !config.authJwksUrl && !config.authJwksFile;
  return {
    keysAreNew: isNew,
    config: {
      ...config,
      mongodbUrl: config.mongodbUrl ?? (services as DevServices).mongoUrl,
      redisUrl: config.redisUrl ?? (services as DevServices).redisUrl,
      authIssuer: config.authIssuer ?? DEV_ISSUER,
      authAudience: config.authAudience ?? DEV_AUDIENCE,
      identityHmacKeys: config.identityHmacKeys ?? keys.identityHmacKeys,
      piiMasterKey: config.piiMasterKey ?? keys.piiMasterKey,
    },
    devKeys: isDevKeyTrusted ? keys : null,
    jwks: isDevKeyTrusted ? devJwks(keys) : null,
    services,
  };
}
