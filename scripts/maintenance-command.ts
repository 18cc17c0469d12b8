/**
 * What the maintenance commands (identifiers:retire, masks:rewrite, master-key:rotate) share: one line per failure,
 * prefixed with the command's name, and the database from MONGODB_URL / MONGODB_DB with start-up's refusals: 78 for
 * configuration (a URL the driver refuses, refused credentials, a key that is not the database's), 1 for a MongoDB
 * that cannot be reached or fails. The driver's message can quote the URL with its password: its name and codes only.
 */
import type { Db } from 'mongodb';
import { connectNamedMongo } from '../src/app.js';
import { databaseName, DATABASE_NAME_RULE, listsEmptyMongoHost, MONGO_HOSTS_RULE } from '../src/config.js';
import { ConfigError, describeCause, StartupError } from '../src/errors.js';

export type Fail = (code: number, line: string) => number;

export function failsAs(command: string): Fail {
  return (code, line) => {
    console.error(`${command}: ${line}`);
    return code;
  };
}

export async function withDatabase(command: string, run: (db: Db, fail: Fail) => Promise<number>): Promise<number> {
  const fail = failsAs(command);
  const url = process.env['MONGODB_URL']?.trim();
  const dbName = process.env['MONGODB_DB']?.trim() || 'veil';
  if (!url) return fail(78, "MONGODB_URL: is required (npm start prints the dev server's URL)");
  if (listsEmptyMongoHost(url)) return fail(78, `MONGODB_URL: ${MONGO_HOSTS_RULE}`);
  if (!databaseName(dbName)) return fail(78, `MONGODB_DB: ${DATABASE_NAME_RULE}`);
  let mongo;
  try {
    mongo = await connectNamedMongo('MONGODB_URL', url, dbName);
  } catch (error) {
    if (error instanceof ConfigError) return fail(78, error.message);
    if (error instanceof StartupError) return fail(1, error.message);
    throw error;
  }
  try {
    return await run(mongo.db, fail);
  } catch (error) {
    if (error instanceof ConfigError) return fail(78, error.message);
    return fail(1, `MONGODB_URL: cannot use MongoDB (${describeCause(error)})`);
  } finally {
    await mongo.close();
  }
}
