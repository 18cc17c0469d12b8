import type { Db } from 'mongodb';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config.js';
import type { ConsentService } from '../consent/consent-service.js';
import type { ConsentScope } from '../consent/consent-types.js';
import type { CustomerService } from '../customers/customer-service.js';
import type { GrantStore } from '../privacy-requests/grant-store.js';
import type { ErasureParticipant } from '../services.js';
import { SupportRecordRepository } from '../support-records/support-record-repository.js';
import { SupportRecordService } from '../support-records/support-record-service.js';
import { SessionService } from './session-service.js';
import { SessionStore } from './session-store.js';
import { SnapshotCache } from './snapshot-cache.js';
import { ContextSnapshotService } from './snapshot-service.js';
import type { StoreErrorReporter } from './store-guard.js';

/** When a consent change purges the customer's snapshot again (see createContextServices). */
export const CONSENT_REPURGE_MS = [2_000, 30_000];

export interface ContextServices {
  supportRecords: SupportRecordService;
  snapshots: ContextSnapshotService;
  sessions: SessionService;
  /** What this area holds per customer, for eraseCustomer. */
  erasureParticipants: ErasureParticipant[];
  /** Drops the repeat purges still pending after consent changes (CONSENT_REPURGE_MS), for a stop. */
  stopRepurges(): void;
}

export interface ContextServiceDeps {
  config: ResolvedConfig;
  db: Db;
  redis: Redis;
  logger: Logger;
  customers: CustomerService;
  consent: ConsentService;
  grantStore: GrantStore;
  describeError: (error: unknown) => unknown;
}

/** Support records, context snapshots and support sessions, wired to consent changes. */
export function createContextServices(deps: ContextServiceDeps): ContextServices {
  const reportStoreError: StoreErrorReporter = (store, error) => {
    deps.logger.warn({ store, err: deps.describeError(error) }, 'store unavailable for support context');
  };
  const records = new SupportRecordRepository(deps.db);
  const snapshots = new ContextSnapshotService(
    new SnapshotCache(deps.redis, deps.config.snapshotTtlSeconds * 1000),
    records,
    { ttlSeconds: deps.config.snapshotTtlSeconds, recentItems: deps.config.snapshotRecentItems },
    reportStoreError,
  );
  const supportRecords = new SupportRecordService(records, deps.customers, snapshots, reportStoreError, deps.config.supportRecordsKeptPerKind);
  const sessions = new SessionService(
    new SessionStore(deps.redis),
    deps.customers,
    { defaultSeconds: deps.config.sessionTtlSeconds, maxSeconds: deps.config.sessionMaxTtlSeconds, maxLivePerCustomer: deps.config.sessionsPerCustomerMax, maxLivePerCaller: deps.config.sessionsPerCallerMax },
    reportStoreError,
  );

  // Any consent change drops the cached snapshot at once (a withdrawal must; the others cost one rebuild).
  // A failed purge does not undo the receipt: the history sections are gated on the consent read from
  // MongoDB at every read, so a stale copy cannot show them, and a read rebuilds a snapshot built under
  // another consent than the customer's now (ContextSnapshotService.snapshotsOf).
  //
  // And again, CONSENT_REPURGE_MS later: a request that read the consent before the receipt was written and the
  // snapshot's epoch after it rebuilds under the old consent, and its write-back passes the epoch check (a probe, in
  // 6 of 120 races: a grant left a snapshot without history, answered as "no tickets" with no CONSENT_REQUIRED, for
  // the whole TTL; a withdrawal left the history in Redis). The later purges drop such a snapshot, and bump the
  // epoch under any rebuild still in flight.
  const purge = async (customerId: string, withdrawn: ConsentScope[]) => {
    try {
      await snapshots.invalidate(customerId);
    } catch (error) {
      deps.logger.error({ customerId, withdrawn: withdrawn.join(' '), err: deps.describeError(error) }, 'could not purge the context snapshot after a consent change');
    }
  };
  // Pending until they fire, so that a stop can drop them (stopRepurges).
  const repurges = new Set<NodeJS.Timeout>();
  deps.consent.onChange(async (customerId, withdrawn) => {
    await purge(customerId, withdrawn);
    // Not once the process has stopped and closed Redis: nothing could be purged, and the log would say otherwise.
    for (const delay of CONSENT_REPURGE_MS) {
      const timer = setTimeout(() => {
        repurges.delete(timer);
        if (deps.redis.status !== 'end') void purge(customerId, withdrawn);
      }, delay).unref();
      repurges.add(timer);
    }
  });

  return {
    supportRecords,
    snapshots,
    sessions,
    // A stop within 30 s of a consent change logged "could not purge the context snapshot" once Redis was closing
    // (seen by hand: Ctrl-C to npm start after seeding). A snapshot the dropped purge would have caught is rebuilt at
    // its next read, as one built under another consent than the customer's now.
    stopRepurges: () => {
      for (const timer of repurges) clearTimeout(timer);
      repurges.clear();
    },
    erasureParticipants: [
      { store: 'mongodb', item: 'support_records', erase: (id) => supportRecords.purgeCustomer(id) },
      { store: 'redis', item: 'context_snapshots', erase: (id) => snapshots.purgeCustomer(id) },
      { store: 'redis', item: 'support_sessions', erase: (id) => sessions.purgeCustomer(id) },
      { store: 'redis', item: 'pii_grants', erase: (id) => deps.grantStore.purgeCustomer(id) },
    ],
  };
}
