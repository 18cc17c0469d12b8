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
import { COLLECTIONS } from '../src/storage/mongo.js';

export type Fail = (code: number, line: string) => number;

export function failsAs(command: string): Fail {
  return (code, line) => {
    console.error(`${command}: ${line}`);
    return code;
  };
}

/**
 * Runs `run` on the database from MONGODB_URL / MONGODB_DB. `problems` are the lines the command found wrong with the
 * rest of its environment: reported together with these, one line per variable, so that a first run names everything
 * to set (a probe: each run named only the first missing variable).
 */
export async function withDatabase(command: string, run: (db: Db, fail: Fail) => Promise<number>, problems: readonly string[] = []): Promise<number> {
  const fail = failsAs(command);
  const url = process.env['MONGODB_URL']?.trim();
  const dbName = process.env['MONGODB_DB']?.trim() || 'veil';
  const found = [...problems];
  if (!url) found.push("MONGODB_URL: is required (npm start prints the dev server's URL)");
  else if (listsEmptyMongoHost(url)) found.push(`MONGODB_URL: ${MONGO_HOSTS_RULE}`);
  if (!databaseName(dbName)) found.push(`MONGODB_DB: ${DATABASE_NAME_RULE}`);
  if (found.length > 0 || !url) {
    for (const line of found) fail(78, line);
    return 78;
  }
  let mongo;
  try {
    mongo = await connectNamedMongo('MONGODB_URL', url, dbName);
  } catch (error) {
    if (error instanceof ConfigError) return fail(78, error.message);
    if (error instanceof StartupError) return fail(1, error.message);
    throw error;
  }
  try {
    // A database that holds no customers and no key checks is not a deployment's: MONGODB_DB mistyped or left unset.
    // master-key:rotate there reported the rotation finished and the previous key free to leave every replica, and
    // masks:rewrite reported the masks rewritten (a probe); both wrote nothing of use, and the rotation wrote a key
    // check into the wrong database.
    const [customer, keyCheck] = await Promise.all([
      mongo.db.collection(COLLECTIONS.customers).findOne({}, { projection: { _id: 1 } }),
      mongo.db.collection(COLLECTIONS.keyChecks).findOne({}, { projection: { _id: 1 } }),
    ]);
    if (customer === null && keyCheck === null) {
      return fail(78, `MONGODB_DB: database "${dbName}" holds no customers and no key checks: is it this deployment's database? (a server records its key checks when it starts)`);
    }
    return await run(mongo.db, fail);
  } catch (error) {
    if (error instanceof ConfigError) return fail(78, error.message);
    return fail(1, `MONGODB_URL: cannot use MongoDB (${describeCause(error)})`);
  } finally {
    await mongo.close();
  }
}
