import type { Db } from 'mongodb';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AuditLog } from './audit/audit-log.js';
import { AuditRepository } from './audit/audit-repository.js';
import type { ResolvedConfig } from './config.js';
import { ConsentRepository } from './consent/consent-repository.js';
import { ConsentService } from './consent/consent-service.js';
import { CustomerRepository } from './customers/customer-repository.js';
import { CustomerService } from './customers/customer-service.js';
import { HmacKeyring } from './identity/hmac-keyring.js';
import { PiiEnvelope } from './identity/pii-envelope.js';
import { GrantService } from './privacy-requests/grant-service.js';
import { GrantStore } from './privacy-requests/grant-store.js';

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
  grantStore: GrantStore;
  grants: GrantService;
}

export interface ServiceDeps {
  config: ResolvedConfig;
  db: Db;
  redis: Redis;
  logger: Logger;
  onAuditWriteFailure?: (error: unknown) => void;
}

export function createServices(deps: ServiceDeps): Services {
  const keyring = HmacKeyring.parse(deps.config.identityHmacKeys);
  const envelope = PiiEnvelope.fromBase64(deps.config.piiMasterKey);
  const auditEvents = new AuditRepository(deps.db);
  const audit = new AuditLog(auditEvents, (error) => {
    deps.logger.error({ err: describeError(error) }, 'audit write failed');
    deps.onAuditWriteFailure?.(error);
  });
  const customers = new CustomerService(new CustomerRepository(deps.db), keyring, envelope, audit);
  const consent = new ConsentService(new ConsentRepository(deps.db), customers, audit);
  const grantStore = new GrantStore(deps.redis);
  const grants = new GrantService(grantStore, customers, audit, {
    defaultSeconds: deps.config.grantTtlSeconds,
    maxSeconds: deps.config.grantMaxTtlSeconds,
  });
  return { config: deps.config, db: deps.db, redis: deps.redis, keyring, customers, consent, audit, auditEvents, grantStore, grants };
}

/** An error's class and message only: driver errors can quote the document that failed. */
export function describeError(error: unknown): { type: string; message?: string; code?: unknown } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { type: error.name, ...(code !== undefined ? { code } : {}) };
  }
  return { type: typeof error };
}
