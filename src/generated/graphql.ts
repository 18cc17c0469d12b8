import type { GraphQLResolveInfo, GraphQLScalarType, GraphQLScalarTypeConfig } from 'graphql';
import type { CustomerRecord, IdentifierRecord } from '../customers/customer-types.js';
import type { ConsentStateRecord, ConsentReceipt } from '../consent/consent-types.js';
import type { ContextSnapshotView } from '../context-snapshots/snapshot-types.js';
import type { AuditEventRecord } from '../audit/audit-types.js';
import type { PiiAccessGrantRecord } from '../privacy-requests/grant-types.js';
import type { DataSubjectExportRecord } from '../privacy-requests/dsar-types.js';
import type { RequestContext } from '../context.js';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Omit<T, K extends keyof T> = Pick<T, Exclude<keyof T, K>>;
export type RequireFields<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** An ISO-8601 date-time with a time zone, for example 2026-11-23T14:25:00Z. */
  DateTime: { input: Date; output: Date; }
  _FieldSet: { input: unknown; output: unknown; }
};

/** A support session that is live now, as a data-subject export lists it. */
export type ActiveSupportSession = {
  __typename?: 'ActiveSupportSession';
  channel: Channel;
  expiresAt: Scalars['DateTime']['output'];
  sessionId: Scalars['String']['output'];
  startedAt: Scalars['DateTime']['output'];
  startedBy: Scalars['String']['output'];
};

export type AuditActor = {
  __typename?: 'AuditActor';
  id: Scalars['String']['output'];
  kind: AuditActorKind;
};

export type AuditActorKind =
  | 'AGENT'
  | 'SERVICE'
  | 'SYSTEM';

/**
 * An append-only, hash-chained audit event. Each customer has a chain of its own
 * (anonymous resolutions share one): hash = SHA-256(canonical event + prevHash).
 */
export type AuditEvent = {
  __typename?: 'AuditEvent';
  actor: AuditActor;
  channel: Maybe<Channel>;
  customerId: Maybe<Scalars['ID']['output']>;
  /**
   * The event's details as JSON text with its keys sorted, as the hash covers them: a grant's requester, approver and
   * expiry, a consent receipt's version and scopes, an erasure's removals and whether it completed, an export's range
   * and delivery. Never a customer's raw identifier; callers appear by their token's subject, as the identity provider
   * gives it.
   */
  details: Scalars['String']['output'];
  fields: Maybe<Array<PiiField>>;
  hash: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  identifierHash: Maybe<Scalars['String']['output']>;
  interactionId: Maybe<Scalars['String']['output']>;
  justification: Maybe<Scalars['String']['output']>;
  occurredAt: Scalars['DateTime']['output'];
  prevHash: Scalars['String']['output'];
  requestId: Maybe<Scalars['String']['output']>;
  resolutionSource: Maybe<Scalars['String']['output']>;
  sequence: Scalars['Int']['output'];
  type: AuditEventType;
};

export type AuditEventConnection = {
  __typename?: 'AuditEventConnection';
  edges: Array<AuditEventEdge>;
  pageInfo: PageInfo;
};

export type AuditEventEdge = {
  __typename?: 'AuditEventEdge';
  cursor: Scalars['String']['output'];
  node: AuditEvent;
};

export type AuditEventType =
  | 'CONSENT_RECORDED'
  | 'CONTEXT_READ'
  | 'CUSTOMER_REGISTERED'
  | 'DATA_DELETION'
  | 'DSAR_EXPORT'
  | 'IDENTIFIER_LINKED'
  | 'IDENTITY_RESOLUTION'
  | 'PII_ACCESS'
  | 'PII_ACCESS_GRANTED'
  /**
   * Read only, never written: the stored type is none of the above. Either a newer release wrote it (during a
   * rolling upgrade), or the store was altered; verifyAuditTrail tells which (an altered event does not verify).
   */
  | 'UNKNOWN';

export type AuditVerification = {
  __typename?: 'AuditVerification';
  customerId: Scalars['ID']['output'];
  eventCount: Scalars['Int']['output'];
  /** The first sequence whose hash, link or position does not verify; null when valid. */
  firstBrokenSequence: Maybe<Scalars['Int']['output']>;
  headHash: Maybe<Scalars['String']['output']>;
  /**
   * The last stored event's sequence and hash (null for an empty chain). A chain
   * cannot show that its newest events were deleted: publish these to a store
   * the application cannot write (see README, anchoring chain heads) and compare.
   */
  headSequence: Maybe<Scalars['Int']['output']>;
  valid: Scalars['Boolean']['output'];
};

/** Where an interaction happens. */
export type Channel =
  | 'API'
  | 'EMAIL'
  | 'SMS'
  | 'SOCIAL'
  | 'VOICE'
  | 'WEBCHAT'
  | 'WHATSAPP';

/** An immutable consent receipt. A change writes a new receipt with the next version. */
export type Consent = {
  __typename?: 'Consent';
  customerId: Scalars['ID']['output'];
  expiresAt: Maybe<Scalars['DateTime']['output']>;
  grantedAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  scopes: Array<Scalars['String']['output']>;
  source: Scalars['String']['output'];
  /** The receipt this one replaces. */
  supersedes: Maybe<Scalars['ID']['output']>;
  version: Scalars['Int']['output'];
};

/** The customer's effective consent: the scopes of the latest receipt, empty when it has expired. */
export type ConsentState = {
  __typename?: 'ConsentState';
  receipt: Maybe<Consent>;
  scopes: Array<Scalars['String']['output']>;
};

/**
 * Ephemeral support context, cached in Redis with a TTL and rebuilt from support
 * records on a miss. Never written to a permanent store.
 */
export type ContextSnapshot = {
  __typename?: 'ContextSnapshot';
  activeSubscriptions: Maybe<Array<SubscriptionSummary>>;
  channel: Maybe<Channel>;
  customerId: Scalars['ID']['output'];
  deviceFingerprint: Maybe<Scalars['String']['output']>;
  expiresAt: Scalars['DateTime']['output'];
  generatedAt: Scalars['DateTime']['output'];
  lastInteractions: Maybe<Array<InteractionSummary>>;
  openTickets: Maybe<Array<TicketSummary>>;
  recentTransactions: Maybe<Array<TransactionSummary>>;
  sessionId: Maybe<Scalars['String']['output']>;
};

/**
 * A person known to support, by a pseudonymous id (cus_ + 26 base32 characters).
 * Personal fields are masked, shown in clear or withheld by the field policy
 * (docs/POLICY.md).
 */
export type Customer = {
  __typename?: 'Customer';
  auditTrail: Maybe<AuditEventConnection>;
  consent: ConsentState;
  consentHistory: Maybe<Array<Consent>>;
  context: Maybe<ContextSnapshot>;
  country: Maybe<Scalars['String']['output']>;
  createdAt: Scalars['DateTime']['output'];
  displayName: Maybe<Scalars['String']['output']>;
  email: Maybe<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  identifiers: Maybe<Array<Identifier>>;
  phone: Maybe<Scalars['String']['output']>;
  preferredLanguage: Maybe<Scalars['String']['output']>;
  status: CustomerStatus;
};


/**
 * A person known to support, by a pseudonymous id (cus_ + 26 base32 characters).
 * Personal fields are masked, shown in clear or withheld by the field policy
 * (docs/POLICY.md).
 */
export type CustomerAuditTrailArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  from?: InputMaybe<Scalars['DateTime']['input']>;
  to?: InputMaybe<Scalars['DateTime']['input']>;
};

export type CustomerStatus =
  | 'ACTIVE'
  | 'ERASED';

/** Everything held about a person, for a data-subject access request. */
export type DataSubjectExport = {
  __typename?: 'DataSubjectExport';
  /**
   * Identity resolutions that matched nobody, made with one of the person's identifiers before it was registered
   * (events of the anonymous chain, in range): contacts the service held about them before it knew them.
   */
  anonymousLookups: Array<AuditEvent>;
  /** The DSAR_EXPORT event that records this export. */
  auditEventId: Scalars['ID']['output'];
  auditEvents: Array<AuditEvent>;
  consentReceipts: Array<Consent>;
  country: Maybe<Scalars['String']['output']>;
  createdAt: Scalars['DateTime']['output'];
  customerId: Scalars['ID']['output'];
  displayName: Maybe<Scalars['String']['output']>;
  email: Maybe<Scalars['String']['output']>;
  generatedAt: Scalars['DateTime']['output'];
  identifiers: Array<Identifier>;
  phone: Maybe<Scalars['String']['output']>;
  /** PII access grants about the person that have not expired, pending ones included, from Redis. null, with SERVICE_UNAVAILABLE at this path, when Redis could not be read. */
  piiAccessGrants: Maybe<Array<PiiAccessGrant>>;
  preferredLanguage: Maybe<Scalars['String']['output']>;
  status: CustomerStatus;
  supportRecords: SupportRecords;
  /** Live support sessions about the person, from Redis (the token is not kept). null, with SERVICE_UNAVAILABLE at this path, when Redis could not be read. */
  supportSessions: Maybe<Array<ActiveSupportSession>>;
};

export type ErasedItems = {
  __typename?: 'ErasedItems';
  count: Scalars['Int']['output'];
  item: Scalars['String']['output'];
  store: Scalars['String']['output'];
};

export type ErasureReceipt = {
  __typename?: 'ErasureReceipt';
  /**
   * true when another request had claimed this customer's erasure first and completed it or is still running it (this
   * one is a duplicate); false for the first request, and for one that finished the work of a request that failed
   * half-way (its DATA_DELETION event names that request in `resumesRequestId`). `removed` counts what this request
   * removed itself: 0 after a completed erasure; a duplicate running beside the first can remove what the first had
   * not reached yet.
   */
  alreadyErased: Scalars['Boolean']['output'];
  auditEventId: Scalars['ID']['output'];
  customerId: Scalars['ID']['output'];
  erasedAt: Scalars['DateTime']['output'];
  removed: Array<ErasedItems>;
  requestId: Scalars['String']['output'];
};

/** A keyed HMAC-SHA-256 hash of a normalised identifier; the identifier itself is never stored. */
export type Identifier = {
  __typename?: 'Identifier';
  /** <keyVersion>:<base64url digest> */
  hash: Scalars['String']['output'];
  keyVersion: Scalars['String']['output'];
  kind: IdentifierKind;
  linkedAt: Scalars['DateTime']['output'];
};

export type IdentifierInput = {
  kind: IdentifierKind;
  /** Email (any case, trimmed), phone (E.164 or with a country prefix) or CRM id. */
  value: Scalars['String']['input'];
};

export type IdentifierKind =
  | 'CRM_ID'
  | 'EMAIL'
  | 'PHONE';

export type IdentityResolution = {
  __typename?: 'IdentityResolution';
  auditEventId: Scalars['ID']['output'];
  /** null when nobody matches: an anonymous interaction, not an error. */
  customer: Maybe<Customer>;
  matchedBy: Maybe<IdentifierKind>;
};

export type InteractionInput = {
  channel: Channel;
  id: Scalars['String']['input'];
  occurredAt: Scalars['DateTime']['input'];
  outcome?: InputMaybe<Scalars['String']['input']>;
  summary?: InputMaybe<Scalars['String']['input']>;
};

export type InteractionSummary = {
  __typename?: 'InteractionSummary';
  channel: Channel;
  id: Scalars['String']['output'];
  occurredAt: Scalars['DateTime']['output'];
  outcome: Maybe<Scalars['String']['output']>;
  summary: Maybe<Scalars['String']['output']>;
};

export type Mutation = {
  __typename?: 'Mutation';
  approvePiiAccess: PiiAccessGrant;
  /** Revokes a support session; true when a live session was ended. */
  endSupportSession: Scalars['Boolean']['output'];
  eraseCustomer: ErasureReceipt;
  /** Cross-channel linking: one customer, many identifiers. */
  linkIdentifier: Customer;
  recordConsent: Consent;
  recordSupportActivity: Scalars['Boolean']['output'];
  /** Idempotent on identifier hashes: a known identifier returns the existing customer. */
  registerCustomer: Customer;
  requestPiiAccess: PiiAccessGrant;
  startSupportSession: SupportSession;
};


export type MutationApprovePiiAccessArgs = {
  grantId: Scalars['ID']['input'];
};


export type MutationEndSupportSessionArgs = {
  token: Scalars['String']['input'];
};


export type MutationEraseCustomerArgs = {
  customerId: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
  requestId: Scalars['String']['input'];
};


export type MutationLinkIdentifierArgs = {
  customerId: Scalars['ID']['input'];
  identifier: IdentifierInput;
};


export type MutationRecordConsentArgs = {
  input: RecordConsentInput;
};


export type MutationRecordSupportActivityArgs = {
  input: SupportActivityInput;
};


export type MutationRegisterCustomerArgs = {
  input: RegisterCustomerInput;
};


export type MutationRequestPiiAccessArgs = {
  input: PiiAccessRequestInput;
};


export type MutationStartSupportSessionArgs = {
  channel: Channel;
  customerId: Scalars['ID']['input'];
  ttlSeconds?: InputMaybe<Scalars['Int']['input']>;
};

/**
 * A page's place in its connection, as the Relay connection spec defines it (all four fields): another subgraph's
 * Relay-style PageInfo composes with this one.
 */
export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  /** Paging goes forward only: true when this page starts after a cursor (its event comes before it), unless from is given. */
  hasPreviousPage: Scalars['Boolean']['output'];
  startCursor: Maybe<Scalars['String']['output']>;
};

/** A time-boxed, audited permission for one agent to see some personal fields of one customer in clear. */
export type PiiAccessGrant = {
  __typename?: 'PiiAccessGrant';
  approvedBy: Maybe<Scalars['String']['output']>;
  customerId: Scalars['ID']['output'];
  expiresAt: Scalars['DateTime']['output'];
  fields: Array<PiiField>;
  id: Scalars['ID']['output'];
  justification: Scalars['String']['output'];
  requestedBy: Scalars['String']['output'];
  status: PiiAccessGrantStatus;
};

export type PiiAccessGrantStatus =
  | 'APPROVED'
  | 'EXPIRED'
  /** Waiting for a second person with pii:approve. */
  | 'PENDING';

export type PiiAccessRequestInput = {
  customerId: Scalars['ID']['input'];
  fields: Array<PiiField>;
  justification: Scalars['String']['input'];
  ttlSeconds?: InputMaybe<Scalars['Int']['input']>;
};

/** Personal attributes that are stored encrypted and shown masked unless a PII access grant is active. */
export type PiiField =
  | 'DISPLAY_NAME'
  | 'EMAIL'
  | 'PHONE';

export type Query = {
  __typename?: 'Query';
  customer: Maybe<Customer>;
  dataSubjectAccess: DataSubjectExport;
  resolveCustomer: IdentityResolution;
  /** What a support-session token may see; null for an expired, revoked or unknown token. */
  sessionContext: Maybe<ContextSnapshot>;
  /** Recomputes a customer's chain; `_anonymous` verifies the chain of resolutions that matched nobody. */
  verifyAuditTrail: AuditVerification;
};


export type QueryCustomerArgs = {
  id: Scalars['ID']['input'];
};


export type QueryDataSubjectAccessArgs = {
  customerId: Scalars['ID']['input'];
  from?: InputMaybe<Scalars['DateTime']['input']>;
  to?: InputMaybe<Scalars['DateTime']['input']>;
};


export type QueryResolveCustomerArgs = {
  input: ResolveCustomerInput;
};


export type QuerySessionContextArgs = {
  token: Scalars['String']['input'];
};


export type QueryVerifyAuditTrailArgs = {
  customerId: Scalars['ID']['input'];
};

export type RecordConsentInput = {
  customerId: Scalars['ID']['input'];
  expiresAt?: InputMaybe<Scalars['DateTime']['input']>;
  /** Customer consent scopes: support_context, identity_linking, analytics, marketing_email, product_recs. */
  scopes: Array<Scalars['String']['input']>;
  source: Scalars['String']['input'];
};

export type RegisterCustomerInput = {
  channel?: InputMaybe<Channel>;
  /** ISO 3166-1 alpha-2, for example GB. */
  country?: InputMaybe<Scalars['String']['input']>;
  displayName?: InputMaybe<Scalars['String']['input']>;
  identifiers: Array<IdentifierInput>;
  /** BCP 47 language tag, for example en-GB. */
  preferredLanguage?: InputMaybe<Scalars['String']['input']>;
};

export type ResolveCustomerInput = {
  channel?: InputMaybe<Channel>;
  identifier: IdentifierInput;
  interactionId?: InputMaybe<Scalars['String']['input']>;
};

export type SubscriptionInput = {
  id: Scalars['String']['input'];
  plan: Scalars['String']['input'];
  renewsAt?: InputMaybe<Scalars['DateTime']['input']>;
  startedAt: Scalars['DateTime']['input'];
  status: Scalars['String']['input'];
};

export type SubscriptionSummary = {
  __typename?: 'SubscriptionSummary';
  id: Scalars['String']['output'];
  plan: Scalars['String']['output'];
  renewsAt: Maybe<Scalars['DateTime']['output']>;
  startedAt: Scalars['DateTime']['output'];
  status: Scalars['String']['output'];
};

/** Support records pushed by a CRM or channel integration. Free text must not carry an email address or phone number. */
export type SupportActivityInput = {
  customerId: Scalars['ID']['input'];
  deviceFingerprint?: InputMaybe<Scalars['String']['input']>;
  interactions?: InputMaybe<Array<InteractionInput>>;
  subscriptions?: InputMaybe<Array<SubscriptionInput>>;
  tickets?: InputMaybe<Array<TicketInput>>;
  transactions?: InputMaybe<Array<TransactionInput>>;
};

export type SupportRecords = {
  __typename?: 'SupportRecords';
  deviceFingerprints: Array<Scalars['String']['output']>;
  interactions: Array<InteractionSummary>;
  subscriptions: Array<SubscriptionSummary>;
  tickets: Array<TicketSummary>;
  transactions: Array<TransactionSummary>;
};

/** A short-lived support session. The token lives in Redis only. */
export type SupportSession = {
  __typename?: 'SupportSession';
  channel: Channel;
  customerId: Scalars['ID']['output'];
  expiresAt: Scalars['DateTime']['output'];
  token: Scalars['String']['output'];
};

export type TicketInput = {
  id: Scalars['String']['input'];
  openedAt: Scalars['DateTime']['input'];
  status: Scalars['String']['input'];
  subject?: InputMaybe<Scalars['String']['input']>;
  updatedAt?: InputMaybe<Scalars['DateTime']['input']>;
};

export type TicketSummary = {
  __typename?: 'TicketSummary';
  id: Scalars['String']['output'];
  openedAt: Scalars['DateTime']['output'];
  status: Scalars['String']['output'];
  subject: Maybe<Scalars['String']['output']>;
  updatedAt: Maybe<Scalars['DateTime']['output']>;
};

export type TransactionInput = {
  amountMinor: Scalars['Int']['input'];
  currency: Scalars['String']['input'];
  description?: InputMaybe<Scalars['String']['input']>;
  id: Scalars['String']['input'];
  occurredAt: Scalars['DateTime']['input'];
  status: Scalars['String']['input'];
};

export type TransactionSummary = {
  __typename?: 'TransactionSummary';
  /** Amount in the currency's minor unit (cents), to avoid floating point money. */
  amountMinor: Scalars['Int']['output'];
  currency: Scalars['String']['output'];
  description: Maybe<Scalars['String']['output']>;
  id: Scalars['String']['output'];
  occurredAt: Scalars['DateTime']['output'];
  status: Scalars['String']['output'];
};



export type ResolverTypeWrapper<T> = Promise<T> | T;

export type ReferenceResolver<TResult, TReference, TContext> = (
      reference: TReference,
      context: TContext,
      info: GraphQLResolveInfo
    ) => Promise<TResult> | TResult;

      type ScalarCheck<T, S> = S extends true ? T : NullableCheck<T, S>;
      type NullableCheck<T, S> = Maybe<T> extends T ? Maybe<ListCheck<NonNullable<T>, S>> : ListCheck<T, S>;
      type ListCheck<T, S> = T extends (infer U)[] ? NullableCheck<U, S>[] : GraphQLRecursivePick<T, S>;
      export type GraphQLRecursivePick<T, S> = { [K in keyof T & keyof S]: ScalarCheck<T[K], S[K]> };
    

export type ResolverWithResolve<TResult, TParent, TContext, TArgs> = {
  resolve: ResolverFn<TResult, TParent, TContext, TArgs>;
};
export type Resolver<TResult, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = ResolverFn<TResult, TParent, TContext, TArgs> | ResolverWithResolve<TResult, TParent, TContext, TArgs>;

export type ResolverFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => Promise<TResult> | TResult;

export type SubscriptionSubscribeFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => AsyncIterable<TResult> | Promise<AsyncIterable<TResult>>;

export type SubscriptionResolveFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;

export interface SubscriptionSubscriberObject<TResult, TKey extends string, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<{ [key in TKey]: TResult }, TParent, TContext, TArgs>;
  resolve?: SubscriptionResolveFn<TResult, { [key in TKey]: TResult }, TContext, TArgs>;
}

export interface SubscriptionResolverObject<TResult, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<any, TParent, TContext, TArgs>;
  resolve: SubscriptionResolveFn<TResult, any, TContext, TArgs>;
}

export type SubscriptionObject<TResult, TKey extends string, TParent, TContext, TArgs> =
  | SubscriptionSubscriberObject<TResult, TKey, TParent, TContext, TArgs>
  | SubscriptionResolverObject<TResult, TParent, TContext, TArgs>;

export type SubscriptionResolver<TResult, TKey extends string, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> =
  | ((...args: any[]) => SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>)
  | SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>;

export type TypeResolveFn<TTypes, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (
  parent: TParent,
  context: TContext,
  info: GraphQLResolveInfo
) => Maybe<TTypes> | Promise<Maybe<TTypes>>;

export type IsTypeOfResolverFn<T = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>> = (obj: T, context: TContext, info: GraphQLResolveInfo) => boolean | Promise<boolean>;

export type NextResolverFn<T> = () => Promise<T>;

export type DirectiveResolverFn<TResult = Record<PropertyKey, never>, TParent = Record<PropertyKey, never>, TContext = Record<PropertyKey, never>, TArgs = Record<PropertyKey, never>> = (
  next: NextResolverFn<TResult>,
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo
) => TResult | Promise<TResult>;

/** Mapping of federation types */
export type FederationTypes = {
  AuditEvent: AuditEvent;
  Consent: Consent;
  Customer: Customer;
};

/** Mapping of federation reference types */
export type FederationReferenceTypes = {
  AuditEvent:
    ( { __typename: 'AuditEvent' }
    & GraphQLRecursivePick<FederationTypes['AuditEvent'], {"id":true}> );
  Consent:
    ( { __typename: 'Consent' }
    & GraphQLRecursivePick<FederationTypes['Consent'], {"id":true}> );
  Customer:
    ( { __typename: 'Customer' }
    & GraphQLRecursivePick<FederationTypes['Customer'], {"id":true}> );
};



/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = {
  ActiveSupportSession: ResolverTypeWrapper<ActiveSupportSession>;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  AuditActor: ResolverTypeWrapper<AuditActor>;
  AuditActorKind: AuditActorKind;
  AuditEvent: ResolverTypeWrapper<AuditEventRecord>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  AuditEventConnection: ResolverTypeWrapper<Omit<AuditEventConnection, 'edges'> & { edges: Array<ResolversTypes['AuditEventEdge']> }>;
  AuditEventEdge: ResolverTypeWrapper<Omit<AuditEventEdge, 'node'> & { node: ResolversTypes['AuditEvent'] }>;
  AuditEventType: AuditEventType;
  AuditVerification: ResolverTypeWrapper<AuditVerification>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  Channel: Channel;
  Consent: ResolverTypeWrapper<ConsentReceipt>;
  ConsentState: ResolverTypeWrapper<ConsentStateRecord>;
  ContextSnapshot: ResolverTypeWrapper<ContextSnapshotView>;
  Customer: ResolverTypeWrapper<CustomerRecord>;
  CustomerStatus: CustomerStatus;
  DataSubjectExport: ResolverTypeWrapper<DataSubjectExportRecord>;
  DateTime: ResolverTypeWrapper<Scalars['DateTime']['output']>;
  ErasedItems: ResolverTypeWrapper<ErasedItems>;
  ErasureReceipt: ResolverTypeWrapper<ErasureReceipt>;
  Identifier: ResolverTypeWrapper<IdentifierRecord>;
  IdentifierInput: IdentifierInput;
  IdentifierKind: IdentifierKind;
  IdentityResolution: ResolverTypeWrapper<Omit<IdentityResolution, 'customer'> & { customer?: Maybe<ResolversTypes['Customer']> }>;
  InteractionInput: InteractionInput;
  InteractionSummary: ResolverTypeWrapper<InteractionSummary>;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  PageInfo: ResolverTypeWrapper<PageInfo>;
  PiiAccessGrant: ResolverTypeWrapper<PiiAccessGrantRecord>;
  PiiAccessGrantStatus: PiiAccessGrantStatus;
  PiiAccessRequestInput: PiiAccessRequestInput;
  PiiField: PiiField;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  RecordConsentInput: RecordConsentInput;
  RegisterCustomerInput: RegisterCustomerInput;
  ResolveCustomerInput: ResolveCustomerInput;
  SubscriptionInput: SubscriptionInput;
  SubscriptionSummary: ResolverTypeWrapper<SubscriptionSummary>;
  SupportActivityInput: SupportActivityInput;
  SupportRecords: ResolverTypeWrapper<SupportRecords>;
  SupportSession: ResolverTypeWrapper<SupportSession>;
  TicketInput: TicketInput;
  TicketSummary: ResolverTypeWrapper<TicketSummary>;
  TransactionInput: TransactionInput;
  TransactionSummary: ResolverTypeWrapper<TransactionSummary>;
};

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = {
  ActiveSupportSession: ActiveSupportSession;
  String: Scalars['String']['output'];
  AuditActor: AuditActor;
  AuditEvent: AuditEventRecord;
  ID: Scalars['ID']['output'];
  Int: Scalars['Int']['output'];
  AuditEventConnection: Omit<AuditEventConnection, 'edges'> & { edges: Array<ResolversParentTypes['AuditEventEdge']> };
  AuditEventEdge: Omit<AuditEventEdge, 'node'> & { node: ResolversParentTypes['AuditEvent'] };
  AuditVerification: AuditVerification;
  Boolean: Scalars['Boolean']['output'];
  Consent: ConsentReceipt;
  ConsentState: ConsentStateRecord;
  ContextSnapshot: ContextSnapshotView;
  Customer: CustomerRecord;
  DataSubjectExport: DataSubjectExportRecord;
  DateTime: Scalars['DateTime']['output'];
  ErasedItems: ErasedItems;
  ErasureReceipt: ErasureReceipt;
  Identifier: IdentifierRecord;
  IdentifierInput: IdentifierInput;
  IdentityResolution: Omit<IdentityResolution, 'customer'> & { customer?: Maybe<ResolversParentTypes['Customer']> };
  InteractionInput: InteractionInput;
  InteractionSummary: InteractionSummary;
  Mutation: Record<PropertyKey, never>;
  PageInfo: PageInfo;
  PiiAccessGrant: PiiAccessGrantRecord;
  PiiAccessRequestInput: PiiAccessRequestInput;
  Query: Record<PropertyKey, never>;
  RecordConsentInput: RecordConsentInput;
  RegisterCustomerInput: RegisterCustomerInput;
  ResolveCustomerInput: ResolveCustomerInput;
  SubscriptionInput: SubscriptionInput;
  SubscriptionSummary: SubscriptionSummary;
  SupportActivityInput: SupportActivityInput;
  SupportRecords: SupportRecords;
  SupportSession: SupportSession;
  TicketInput: TicketInput;
  TicketSummary: TicketSummary;
  TransactionInput: TransactionInput;
  TransactionSummary: TransactionSummary;
};

export type ActiveSupportSessionResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['ActiveSupportSession'] = ResolversParentTypes['ActiveSupportSession']> = {
  channel?: Resolver<ResolversTypes['Channel'], ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  sessionId?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  startedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  startedBy?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type AuditActorResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['AuditActor'] = ResolversParentTypes['AuditActor']> = {
  id?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  kind?: Resolver<ResolversTypes['AuditActorKind'], ParentType, ContextType>;
};

export type AuditEventResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['AuditEvent'] = ResolversParentTypes['AuditEvent'], FederationReferenceType extends FederationReferenceTypes['AuditEvent'] = FederationReferenceTypes['AuditEvent']> = {
  __resolveReference?: ReferenceResolver<Maybe<ResolversTypes['AuditEvent']> | FederationReferenceType, FederationReferenceType, ContextType>;
  actor?: Resolver<ResolversTypes['AuditActor'], ParentType, ContextType>;
  channel?: Resolver<Maybe<ResolversTypes['Channel']>, ParentType, ContextType>;
  customerId?: Resolver<Maybe<ResolversTypes['ID']>, ParentType, ContextType>;
  details?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  fields?: Resolver<Maybe<Array<ResolversTypes['PiiField']>>, ParentType, ContextType>;
  hash?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  identifierHash?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  interactionId?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  justification?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  occurredAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  prevHash?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  requestId?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  resolutionSource?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  sequence?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  type?: Resolver<ResolversTypes['AuditEventType'], ParentType, ContextType>;
};

export type AuditEventConnectionResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['AuditEventConnection'] = ResolversParentTypes['AuditEventConnection']> = {
  edges?: Resolver<Array<ResolversTypes['AuditEventEdge']>, ParentType, ContextType>;
  pageInfo?: Resolver<ResolversTypes['PageInfo'], ParentType, ContextType>;
};

export type AuditEventEdgeResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['AuditEventEdge'] = ResolversParentTypes['AuditEventEdge']> = {
  cursor?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  node?: Resolver<ResolversTypes['AuditEvent'], ParentType, ContextType>;
};

export type AuditVerificationResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['AuditVerification'] = ResolversParentTypes['AuditVerification']> = {
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  eventCount?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  firstBrokenSequence?: Resolver<Maybe<ResolversTypes['Int']>, ParentType, ContextType>;
  headHash?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  headSequence?: Resolver<Maybe<ResolversTypes['Int']>, ParentType, ContextType>;
  valid?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
};

export type ConsentResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Consent'] = ResolversParentTypes['Consent'], FederationReferenceType extends FederationReferenceTypes['Consent'] = FederationReferenceTypes['Consent']> = {
  __resolveReference?: ReferenceResolver<Maybe<ResolversTypes['Consent']> | FederationReferenceType, FederationReferenceType, ContextType>;
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  expiresAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  grantedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  scopes?: Resolver<Array<ResolversTypes['String']>, ParentType, ContextType>;
  source?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  supersedes?: Resolver<Maybe<ResolversTypes['ID']>, ParentType, ContextType>;
  version?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
};

export type ConsentStateResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['ConsentState'] = ResolversParentTypes['ConsentState']> = {
  receipt?: Resolver<Maybe<ResolversTypes['Consent']>, ParentType, ContextType>;
  scopes?: Resolver<Array<ResolversTypes['String']>, ParentType, ContextType>;
};

export type ContextSnapshotResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['ContextSnapshot'] = ResolversParentTypes['ContextSnapshot']> = {
  activeSubscriptions?: Resolver<Maybe<Array<ResolversTypes['SubscriptionSummary']>>, ParentType, ContextType>;
  channel?: Resolver<Maybe<ResolversTypes['Channel']>, ParentType, ContextType>;
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  deviceFingerprint?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  generatedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  lastInteractions?: Resolver<Maybe<Array<ResolversTypes['InteractionSummary']>>, ParentType, ContextType>;
  openTickets?: Resolver<Maybe<Array<ResolversTypes['TicketSummary']>>, ParentType, ContextType>;
  recentTransactions?: Resolver<Maybe<Array<ResolversTypes['TransactionSummary']>>, ParentType, ContextType>;
  sessionId?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type CustomerResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Customer'] = ResolversParentTypes['Customer'], FederationReferenceType extends FederationReferenceTypes['Customer'] = FederationReferenceTypes['Customer']> = {
  __resolveReference?: ReferenceResolver<Maybe<ResolversTypes['Customer']> | FederationReferenceType, FederationReferenceType, ContextType>;
  auditTrail?: Resolver<Maybe<ResolversTypes['AuditEventConnection']>, ParentType, ContextType, RequireFields<CustomerAuditTrailArgs, 'first'>>;
  consent?: Resolver<ResolversTypes['ConsentState'], ParentType, ContextType>;
  consentHistory?: Resolver<Maybe<Array<ResolversTypes['Consent']>>, ParentType, ContextType>;
  context?: Resolver<Maybe<ResolversTypes['ContextSnapshot']>, ParentType, ContextType>;
  country?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  displayName?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  email?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  identifiers?: Resolver<Maybe<Array<ResolversTypes['Identifier']>>, ParentType, ContextType>;
  phone?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  preferredLanguage?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  status?: Resolver<ResolversTypes['CustomerStatus'], ParentType, ContextType>;
};

export type DataSubjectExportResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['DataSubjectExport'] = ResolversParentTypes['DataSubjectExport']> = {
  anonymousLookups?: Resolver<Array<ResolversTypes['AuditEvent']>, ParentType, ContextType>;
  auditEventId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  auditEvents?: Resolver<Array<ResolversTypes['AuditEvent']>, ParentType, ContextType>;
  consentReceipts?: Resolver<Array<ResolversTypes['Consent']>, ParentType, ContextType>;
  country?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  displayName?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  email?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  generatedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  identifiers?: Resolver<Array<ResolversTypes['Identifier']>, ParentType, ContextType>;
  phone?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  piiAccessGrants?: Resolver<Maybe<Array<ResolversTypes['PiiAccessGrant']>>, ParentType, ContextType>;
  preferredLanguage?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  status?: Resolver<ResolversTypes['CustomerStatus'], ParentType, ContextType>;
  supportRecords?: Resolver<ResolversTypes['SupportRecords'], ParentType, ContextType>;
  supportSessions?: Resolver<Maybe<Array<ResolversTypes['ActiveSupportSession']>>, ParentType, ContextType>;
};

export interface DateTimeScalarConfig extends GraphQLScalarTypeConfig<ResolversTypes['DateTime'], any> {
  name: 'DateTime';
}

export type ErasedItemsResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['ErasedItems'] = ResolversParentTypes['ErasedItems']> = {
  count?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  item?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  store?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type ErasureReceiptResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['ErasureReceipt'] = ResolversParentTypes['ErasureReceipt']> = {
  alreadyErased?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  auditEventId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  erasedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  removed?: Resolver<Array<ResolversTypes['ErasedItems']>, ParentType, ContextType>;
  requestId?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type IdentifierResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Identifier'] = ResolversParentTypes['Identifier']> = {
  hash?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  keyVersion?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  kind?: Resolver<ResolversTypes['IdentifierKind'], ParentType, ContextType>;
  linkedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
};

export type IdentityResolutionResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['IdentityResolution'] = ResolversParentTypes['IdentityResolution']> = {
  auditEventId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  customer?: Resolver<Maybe<ResolversTypes['Customer']>, ParentType, ContextType>;
  matchedBy?: Resolver<Maybe<ResolversTypes['IdentifierKind']>, ParentType, ContextType>;
};

export type InteractionSummaryResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['InteractionSummary'] = ResolversParentTypes['InteractionSummary']> = {
  channel?: Resolver<ResolversTypes['Channel'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  occurredAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  outcome?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  summary?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type MutationResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation']> = {
  approvePiiAccess?: Resolver<ResolversTypes['PiiAccessGrant'], ParentType, ContextType, RequireFields<MutationApprovePiiAccessArgs, 'grantId'>>;
  endSupportSession?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationEndSupportSessionArgs, 'token'>>;
  eraseCustomer?: Resolver<ResolversTypes['ErasureReceipt'], ParentType, ContextType, RequireFields<MutationEraseCustomerArgs, 'customerId' | 'reason' | 'requestId'>>;
  linkIdentifier?: Resolver<ResolversTypes['Customer'], ParentType, ContextType, RequireFields<MutationLinkIdentifierArgs, 'customerId' | 'identifier'>>;
  recordConsent?: Resolver<ResolversTypes['Consent'], ParentType, ContextType, RequireFields<MutationRecordConsentArgs, 'input'>>;
  recordSupportActivity?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType, RequireFields<MutationRecordSupportActivityArgs, 'input'>>;
  registerCustomer?: Resolver<ResolversTypes['Customer'], ParentType, ContextType, RequireFields<MutationRegisterCustomerArgs, 'input'>>;
  requestPiiAccess?: Resolver<ResolversTypes['PiiAccessGrant'], ParentType, ContextType, RequireFields<MutationRequestPiiAccessArgs, 'input'>>;
  startSupportSession?: Resolver<ResolversTypes['SupportSession'], ParentType, ContextType, RequireFields<MutationStartSupportSessionArgs, 'channel' | 'customerId'>>;
};

export type PageInfoResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['PageInfo'] = ResolversParentTypes['PageInfo']> = {
  endCursor?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  hasNextPage?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  hasPreviousPage?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  startCursor?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
};

export type PiiAccessGrantResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['PiiAccessGrant'] = ResolversParentTypes['PiiAccessGrant']> = {
  approvedBy?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  fields?: Resolver<Array<ResolversTypes['PiiField']>, ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  justification?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  requestedBy?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['PiiAccessGrantStatus'], ParentType, ContextType>;
};

export type QueryResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query']> = {
  customer?: Resolver<Maybe<ResolversTypes['Customer']>, ParentType, ContextType, RequireFields<QueryCustomerArgs, 'id'>>;
  dataSubjectAccess?: Resolver<ResolversTypes['DataSubjectExport'], ParentType, ContextType, RequireFields<QueryDataSubjectAccessArgs, 'customerId'>>;
  resolveCustomer?: Resolver<ResolversTypes['IdentityResolution'], ParentType, ContextType, RequireFields<QueryResolveCustomerArgs, 'input'>>;
  sessionContext?: Resolver<Maybe<ResolversTypes['ContextSnapshot']>, ParentType, ContextType, RequireFields<QuerySessionContextArgs, 'token'>>;
  verifyAuditTrail?: Resolver<ResolversTypes['AuditVerification'], ParentType, ContextType, RequireFields<QueryVerifyAuditTrailArgs, 'customerId'>>;
};

export type SubscriptionSummaryResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['SubscriptionSummary'] = ResolversParentTypes['SubscriptionSummary']> = {
  id?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  plan?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  renewsAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  startedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type SupportRecordsResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['SupportRecords'] = ResolversParentTypes['SupportRecords']> = {
  deviceFingerprints?: Resolver<Array<ResolversTypes['String']>, ParentType, ContextType>;
  interactions?: Resolver<Array<ResolversTypes['InteractionSummary']>, ParentType, ContextType>;
  subscriptions?: Resolver<Array<ResolversTypes['SubscriptionSummary']>, ParentType, ContextType>;
  tickets?: Resolver<Array<ResolversTypes['TicketSummary']>, ParentType, ContextType>;
  transactions?: Resolver<Array<ResolversTypes['TransactionSummary']>, ParentType, ContextType>;
};

export type SupportSessionResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['SupportSession'] = ResolversParentTypes['SupportSession']> = {
  channel?: Resolver<ResolversTypes['Channel'], ParentType, ContextType>;
  customerId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  expiresAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  token?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type TicketSummaryResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['TicketSummary'] = ResolversParentTypes['TicketSummary']> = {
  id?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  openedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  subject?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  updatedAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
};

export type TransactionSummaryResolvers<ContextType = RequestContext, ParentType extends ResolversParentTypes['TransactionSummary'] = ResolversParentTypes['TransactionSummary']> = {
  amountMinor?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  currency?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  description?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  id?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  occurredAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
};

export type Resolvers<ContextType = RequestContext> = {
  ActiveSupportSession?: ActiveSupportSessionResolvers<ContextType>;
  AuditActor?: AuditActorResolvers<ContextType>;
  AuditEvent?: AuditEventResolvers<ContextType>;
  AuditEventConnection?: AuditEventConnectionResolvers<ContextType>;
  AuditEventEdge?: AuditEventEdgeResolvers<ContextType>;
  AuditVerification?: AuditVerificationResolvers<ContextType>;
  Consent?: ConsentResolvers<ContextType>;
  ConsentState?: ConsentStateResolvers<ContextType>;
  ContextSnapshot?: ContextSnapshotResolvers<ContextType>;
  Customer?: CustomerResolvers<ContextType>;
  DataSubjectExport?: DataSubjectExportResolvers<ContextType>;
  DateTime?: GraphQLScalarType;
  ErasedItems?: ErasedItemsResolvers<ContextType>;
  ErasureReceipt?: ErasureReceiptResolvers<ContextType>;
  Identifier?: IdentifierResolvers<ContextType>;
  IdentityResolution?: IdentityResolutionResolvers<ContextType>;
  InteractionSummary?: InteractionSummaryResolvers<ContextType>;
  Mutation?: MutationResolvers<ContextType>;
  PageInfo?: PageInfoResolvers<ContextType>;
  PiiAccessGrant?: PiiAccessGrantResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  SubscriptionSummary?: SubscriptionSummaryResolvers<ContextType>;
  SupportRecords?: SupportRecordsResolvers<ContextType>;
  SupportSession?: SupportSessionResolvers<ContextType>;
  TicketSummary?: TicketSummaryResolvers<ContextType>;
  TransactionSummary?: TransactionSummaryResolvers<ContextType>;
};

