import type { Db } from 'mongodb';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AuditLog } from './audit/audit-log.js';
import { AuditRepository } from './audit/audit-repository.js';
import { AnonymousLookupSeal, CustomerKeySeal, IdentifierSeals } from './audit/audit-identifier-seal.js';
import { COLLECTIONS } from './storage/mongo.js';
import { AuditTrailService } from './audit/audit-trail-service.js';
import { DsarService } from './privacy-requests/dsar-service.js';
import { ErasureRepository } from './privacy-requests/erasure-repository.js';
import { ErasureService } from './privacy-requests/erasure-service.js';
import type { ResolvedConfig } from './config.js';
import { ConsentRepository } from './consent/consent-repository.js';
import { ConsentService } from './consent/consent-service.js';
import { CustomerRepository } from './customers/customer-repository.js';
import { CustomerService } from './customers/customer-service.js';
import { HmacKeyring } from './identity/hmac-keyring.js';
import { PiiEnvelope } from './identity/pii-envelope.js';
import { GrantService } from './privacy-requests/grant-service.js';
import { GrantStore } from './privacy-requests/grant-store.js';
import { RateLimiter } from './hardening/rate-limiter.js';
import { createContextServices } from './context-snapshots/context-services.js';
import type { ContextSnapshotService } from './context-snapshots/snapshot-service.js';
import type { SessionService } from './context-snapshots/session-service.js';
import type { SupportRecordService } from './support-records/support-record-service.js';

/** Long-lived use-case services, one set per process. No GraphQL types in here. */
export interface Services {
  config: ResolvedConfig;
  db: Db;
  redis: Redis;
  keyring: HmacKeyring;
  customers: CustomerService;
  consent: ConsentService;
  audit: AuditLog;
  auditEvents: AuditRepository;
  /** The audit trail's database: `db` itself unless AUDIT_MONGODB_URL / AUDIT_MONGODB_DB point elsewhere. */
  auditDb: Db;
  grantStore: GrantStore;
  grants: GrantService;
  /** Per-caller budgets for the sensitive root fields (src/hardening/rate-limited-fields.ts). */
  rateLimiter: RateLimiter;
  /** Support records pushed by CRM integrations (MongoDB). */
  supportRecords: SupportRecordService;
  /** Context snapshots cached in Redis. */
  snapshots: ContextSnapshotService;
  /** Support-session tokens (Redis only). */
  sessions: SessionService;
  /** Everything eraseCustomer must clear besides the customer document; each area appends its own. */
  erasureParticipants: ErasureParticipant[];
  /** Audit trail pages, lookups and verification (reads the audit store). */
  auditTrail: AuditTrailService;
  /** Data-subject access exports. */
  dsar: DsarService;
  /** Right to be forgotten. */
  erasure: ErasureService;
  /** Drops the timers of pending work (the repeat purges after a consent change), before the stores close. */
  stopTimers(): void;
}

/** Something erasure must clear for a customer; `erase` returns how many items went (for the ErasureReceipt). */
export interface ErasureParticipant {
  store: 'mongodb' | 'redis';
  item: string;
  erase(customerId: string): Promise<number>;
}

export interface ServiceDeps {
  config: ResolvedConfig;
  db: Db;
  redis: Redis;
  logger: Logger;
  onAuditWriteFailure?: (error: unknown) => void;
  /** The audit trail's database when it is not `db` (AUDIT_MONGODB_URL / AUDIT_MONGODB_DB). */
  auditDb?: Db;
}

export function createServices(deps: ServiceDeps): Services {
  const keyring = HmacKeyring.parse(deps.config.identityHmacKeys);
  const envelope = PiiEnvelope.fromBase64(deps.config.piiMasterKey, deps.config.piiMasterKeyPrevious);
  const auditEvents = new AuditRepository(deps.auditDb ?? deps.db);
  const customerRepository = new CustomerRepository(deps.db);
  const anonymousLookups = new AnonymousLookupSeal(deps.db.collection(COLLECTIONS.anonymousLookups));
  const seal = new IdentifierSeals(new CustomerKeySeal(envelope, (ids) => customerRepository.findWrappedKeys(ids)), anonymousLookups);
  const audit = new AuditLog(auditEvents, {
    seal,
    onWriteFailure: (error) => {
      deps.logger.error({ err: describeError(error) }, 'audit write failed');
      deps.onAuditWriteFailure?.(error);
    },
  });
  const customers = new CustomerService(customerRepository, keyring, envelope, audit);
  const consent = new ConsentService(new ConsentRepository(deps.db), customers, audit);
  const grantStore = new GrantStore(deps.redis);
  const grants = new GrantService(grantStore, customers, audit, {
    defaultSeconds: deps.config.grantTtlSeconds,
    maxSeconds: deps.config.grantMaxTtlSeconds,
  });
  const rateLimiter = new RateLimiter(deps.redis, { windowSeconds: deps.config.rateLimitWindowSeconds, max: deps.config.rateLimitSensitiveMax });
  const context = createContextServices({ config: deps.config, db: deps.db, redis: deps.redis, logger: deps.logger, customers, consent, grantStore, describeError });
  const auditTrail = new AuditTrailService(auditEvents, audit, seal, async (id) => (await customerRepository.findByIds([id]))[0] != null);
  const dsar = new DsarService(customers, consent, auditTrail, audit, {
    supportRecords: context.supportRecords,
    liveSessionsOf: (id) => context.sessions.liveSessionsOf(id),
    grantsOf: (id) => grantStore.listCustomer(id),
    anonymousLookupEventIds: (hashes) => anonymousLookups.eventIdsFor(hashes),
  });
  // One array, shared with the erasure service: an area that registers a participant later is still called.
  const erasureParticipants = [...context.erasureParticipants];
  const erasure = new ErasureService(customerRepository, new ErasureRepository(deps.db), erasureParticipants, audit, anonymousLookups, (items, options) => customers.refuseOwnIdentifiers(items, options));
  return {
    config: deps.config, db: deps.db, auditDb: deps.auditDb ?? deps.db, redis: deps.redis, keyring, customers, consent, audit, auditEvents, grantStore, grants, rateLimiter,
    supportRecords: context.supportRecords,
    snapshots: context.snapshots,
    sessions: context.sessions,
    erasureParticipants,
    auditTrail,
    dsar,
    erasure,
    stopTimers: () => {
      context.stopRepurges();
      erasure.stopSweeps();
    },
  };
}

/** An error's class and message only: driver errors can quote the document that failed. */
export function describeError(error: unknown): { type: string; message?: string; code?: unknown } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { type: error.name, ...(code !== undefined ? { code } : {}) };
  }
  return { type: typeof error };
}
