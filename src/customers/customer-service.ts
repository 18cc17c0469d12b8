import { setTimeout as sleep } from 'node:timers/promises';
import { Lexer, Source, TokenKind } from 'graphql';
import type { Caller } from '../auth/caller.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditEventInput, AuditEventRecord } from '../audit/audit-types.js';
import type { Channel } from '../context-snapshots/snapshot-types.js';
import { BadUserInputError, ConflictError, CustomerErasedError, NotFoundError, ServiceUnavailableError } from '../errors.js';
import { MAX_PARAMETER_DEPTH } from '../hardening/well-formed-text.js';
import { isCustomerId, newCustomerId } from '../identity/customer-id.js';
import { HmacKeyring } from '../identity/hmac-keyring.js';
import { containsIdentifier, decodedTextsOf, foldForMatching, hasControlCharacters, isSafeReference, maskDatesTimesAmounts } from '../identity/free-text-guard.js';
import { asciiDigits, GEOGRAPHIC_CALLING_CODES, normaliseIdentifier, phoneDigitsOf, type IdentifierKind } from '../identity/normalise-identifier.js';
import type { EncryptedValue, PiiEnvelope, WrappedDataKey } from '../identity/pii-envelope.js';
import { maskDisplayName, maskEmail, maskPhone, showsSomething } from '../policy/masks.js';
import { maskAttributes } from './masked-attributes.js';
import { callerRequestId, noteHeldIdentifiers, withdrawRequestId } from '../observability/request-scope.js';
import { COUNTRY_CODES } from './country-codes.js';
import type { CustomerRepository } from './customer-repository.js';
import type { CustomerRecord, EncryptedAttributes, IdentifierRecord, PiiField } from './customer-types.js';
import { ciphertextsOf, hashesOf, listedIdentifiers, MAX_DISPLAY_NAME_LENGTH, MAX_IDENTIFIERS_PER_CUSTOMER, MAX_INTERACTION_ID_LENGTH } from './customer-types.js';

export interface Actor {
  caller: Caller;
  requestId: string;
}

export interface IdentifierInput {
  kind: IdentifierKind;
  value: string;
}

export interface RegisterInput {
  identifiers: IdentifierInput[];
  displayName?: string | null;
  country?: string | null;
  preferredLanguage?: string | null;
  channel?: Channel | null;
}

export interface ResolveInput {
  identifier: IdentifierInput;
  channel?: Channel | null;
  interactionId?: string | null;
}

export interface Resolution {
  customer: CustomerRecord | null;
  matchedBy: IdentifierKind | null;
  auditEventId: string;
}

/** An identifier as normalised, before (or without) hashing. */
type ReadIdentifier = Pick<HashedIdentifier, 'kind' | 'normalised'>;

interface HashedIdentifier {
  kind: IdentifierKind;
  normalised: string;
  /** Current key version first, then older ones. */
  hashes: string[];
}

const MAX_IDENTIFIERS_PER_REGISTRATION = 10;
/**
 * How long a registration keeps trying when racing ones of the same identifiers undo each other or are still
 * settling (it used to give up after 5 attempts, some 200 ms).
 */
const REGISTRATION_RACE_WAIT_MS = 5_000;
/**
 * A customer still `registrationPending` this soon after its creation belongs to a registration that is running
 * (it claims its identifiers within milliseconds and settles once its event is written): others wait for it. Older,
 * it was left by one that failed half-way, and the next registration of its identifiers completes it.
 */
const REGISTRATION_SETTLING_MS = 2_000;

/** findOwner's answer when an identifier still belongs to an erased customer: its erasure has not removed it yet. */
const ERASING = Symbol('erasing');
/** The same, for a customer marked erased longer ago than STALLED_ERASURE_MS: that erasure failed half-way. */
const STALLED_ERASURE = Symbol('stalled erasure');
const STALLED_ERASURE_MS = 30_000;
const ERASURE_POLL_MS = 250;
const ERASURE_NOT_FINISHED = 'An identifier belongs to a customer whose erasure has not finished; try again once it has';

function isSettling(customer: CustomerRecord): boolean {
  return customer.registrationPending === true && customer.status === 'ACTIVE' && Date.now() - customer.createdAt.getTime() < REGISTRATION_SETTLING_MS;
}

/** Identifiers in the order every call claims them (by current hash), so that no two calls wait on each other. */
function inClaimOrder(identifiers: readonly HashedIdentifier[]): HashedIdentifier[] {
  return [...identifiers].sort((a, b) => ((a.hashes[0] as string) < (b.hashes[0] as string) ? -1 : 1));
}

/** Whether claim `a` was made before claim `b`: by time, then hash (one order for every call). */
function claimedBefore(a: IdentifierRecord, b: IdentifierRecord): boolean {
  const [at, bt] = [a.pendingSince?.getTime() ?? 0, b.pendingSince?.getTime() ?? 0];
  return at < bt || (at === bt && a.hash < b.hash);
}

/**
 * Whether an identifier record stands as its customer's: settled, or pending for a minute (its call died), or a new
 * customer's registration claim while that registration is past settling (REGISTRATION_SETTLING_MS): whoever finds
 * it completes the registration with it (completeRegistration), as after a registration that failed half-way.
 */
function claimStands(record: IdentifierRecord, owner: CustomerRecord | undefined): boolean {
  if (!isFreshClaim(record.pendingSince ?? null)) return true;
  return owner !== undefined && owner.registrationPending === true && owner.status === 'ACTIVE' && !isSettling(owner);
}

/** A claim made less than STALE_PENDING_LINK_MS ago: its call may still complete it or take it back. */
function isFreshClaim(pendingSince: Date | null): boolean {
  return pendingSince !== null && Date.now() - pendingSince.getTime() < STALE_PENDING_LINK_MS;
}

/** How long calls that would together take a customer past its identifier bound keep trying before one is refused. */
const BOUND_CONTENTION_WAIT_MS = 5_000;
/** How long a link waits for another call's link of the same identifier to settle (longer than the lock wait). */
const PENDING_LINK_WAIT_MS = 20_000;
const PENDING_LINK_POLL_MS = 50;
/** A registration pending this long with no identifier died before claiming one (sweepAbandonedRegistrations). */
const ABANDONED_REGISTRATION_MS = 10 * 60_000;
/** A link pending this long died half-way (its process stopped); the next link of the identifier completes it. */
const STALE_PENDING_LINK_MS = 60_000;

/** Registration, cross-channel linking and identity resolution. Raw identifiers stop here: only hashes go further. */
export class CustomerService {
  constructor(
    private readonly repository: CustomerRepository,
    private readonly keyring: HmacKeyring,
    private readonly envelope: PiiEnvelope,
    private readonly audit: AuditLog,
  ) {}

  /** `ciphertexts: false` leaves the encrypted attributes out: enough for every read but a clear-text one. */
  findByIds(ids: readonly string[], options: { ciphertexts?: boolean } = {}): Promise<Array<CustomerRecord | null>> {
    return this.repository.findByIds(ids, options);
  }

  /** See CustomerRepository.onIdentifierFiling. */
  onIdentifierFiling(listener: () => void): void {
    this.repository.onIdentifierFiling(listener);
  }

  /**
   * The identifiers each customer holds, as the API lists and exports them: not a claim still pending, which is no
   * link yet: a registration claims all its identifiers before it links any, and one refused after a wait (up to 20 s
   * behind another call's pending link) had its claims listed meanwhile (a regression probe). A stale claim (its call
   * died) is the customer's, as registrations, links and erasure count it (a second regression round found it hidden
   * here while a link of it to anyone else was refused): the next registration of it completes it.
   */
  async identifiersOf(ids: readonly string[]): Promise<IdentifierRecord[][]> {
    return (await this.repository.findIdentifiersByCustomerIds(ids)).map((records) => records.filter((record) => !isFreshClaim(record.pendingSince ?? null)));
  }

  async register(input: RegisterInput, actor: Actor): Promise<CustomerRecord> {
    const identifiers = this.hashIdentifiers(input.identifiers);
    // Before anything can refuse the request: a refused one logged an x-request-id and an operation name that spelled
    // the identifier being registered (a regression probe), the screen coming only after the checks.
    withdrawRequestIdNaming(identifiers);
    const attributes = validateAttributes(input);
    // The masked display name keeps its first word in clear: a CRM id there would be stored and shown (a probe
    // registered `CRM-CBC6490F Smith` with that CRM id). Emails and phone numbers are refused by shape above.
    const crmIds = identifiers.filter((i) => i.kind === 'CRM_ID').map((i) => i.normalised);
    // Read in the name as given and in its mask, what agents see: the first word and the surname's initial together
    // spelt one (`Zedqaq7 Quill` shows `Zedqaq7 Q.` beside ZEDQAQ7Q), and a CRM id linked later is read in the mask
    // (refuseShownIdentifiers), so the two paths answered one pairing differently (a regression probe).
    const masked = attributes.displayName === null ? null : maskDisplayName(attributes.displayName);
    for (const [field, texts] of [['displayName', [attributes.displayName, masked]], ['preferredLanguage', [attributes.preferredLanguage]]] as const) {
      if (texts.some((text) => text != null && showsCrmId(text, crmIds))) throw new BadUserInputError(`${field} must not contain the customer's CRM id`, { field });
    }
    // Nor the address's local part, which the masked email hides but for its first character: `zara.quill54403dx
    // Smith` with zara.quill54403dx@example.com showed the whole address to every agent across the two masks (a probe).
    if (masked !== null && showsEmailsLocalPart(masked, identifiers.filter((i) => i.kind === 'EMAIL').map((i) => i.normalised))) {
      throw new BadUserInputError("displayName must not contain the customer's email address", { field: 'displayName' });
    }
    const phones = identifiers.filter((i) => i.kind === 'PHONE').map((i) => i.normalised);
    if (masked !== null && showsPhoneDigits(masked, phones, { shownPhone: phones[0] ?? null })) {
      throw new BadUserInputError("displayName must not contain the customer's phone number", { field: 'displayName' });
    }
    // Claimed in one order whatever order the caller listed them in: racing registrations of one person that listed
    // them differently each claimed its own first identifier, then lost the next one to the other, undid, and ran
    // again into the other's undoing (CONFLICT, NOT_FOUND and "erased" answers for one person; a probe).
    const claimOrder = inClaimOrder(identifiers);
    const deadline = Date.now() + REGISTRATION_RACE_WAIT_MS;
    for (let attempt = 1; ; attempt++) {
      let registered: Awaited<ReturnType<CustomerService['registerOnce']>>;
      try {
        registered = await this.registerOnce(input, identifiers, claimOrder, attributes, actor);
      } catch (error) {
        // The customer it found was erased while this attempt linked to it or answered with it (a race with the
        // erasure's first steps; a regression probe got "erased" that way): the same as finding it erased.
        if (!(error instanceof CustomerErasedError)) throw error;
        registered = ERASING;
      }
      if (registered === STALLED_ERASURE) throw new ConflictError(ERASURE_NOT_FINISHED);
      if (registered && registered !== ERASING) return registered;
      // Another registration claimed one of these identifiers first, or is still settling: the next attempt finds
      // it and links the rest. Or an erasure of the customer holding one is under way: once it has removed the
      // identifiers, this one registers a new customer (answered "erased", a CRM could not tell that a retry would
      // succeed; a probe).
      if (Date.now() > deadline) {
        throw new ConflictError(registered === ERASING ? ERASURE_NOT_FINISHED : 'These identifiers are being registered concurrently; try again');
      }
      // An erasure removes the identifiers within moments of marking the customer: look again less often than for a
      // racing registration (each look is a few queries).
      if (registered === ERASING) {
        await sleep(ERASURE_POLL_MS);
        continue;
      }
      // Two registrations that each took one of two shared identifiers both undo: a random pause lets one go first.
      await sleep(Math.random() * Math.min(100, 20 * attempt));
    }
  }

  /**
   * One registration; null when a concurrent registration took one of the identifiers and this one was undone.
   * `identifiers` as the caller listed them (the first is the event's), `claimOrder` the same in the order they are
   * claimed.
   */
  private async registerOnce(
    input: RegisterInput,
    identifiers: readonly HashedIdentifier[],
    claimOrder: readonly HashedIdentifier[],
    attributes: ReturnType<typeof validateAttributes>,
    actor: Actor,
  ): Promise<CustomerRecord | typeof ERASING | typeof STALLED_ERASURE | null> {
    const existing = await this.findOwner(identifiers, actor, input.channel ?? null);
    if (existing === ERASING || existing === STALLED_ERASURE) return existing;
    // Another registration of these identifiers is still running: it may yet lose a claim and undo its customer, and
    // what was linked to it or answered with it would go too (NOT_FOUND, "erased", CONFLICT, and events naming a
    // customer that does not exist; a probe). Wait for it to settle or to be undone.
    if (existing === 'settling') return null;
    if (existing) {
      if (!(await this.registeredBeforeNaming(existing.customer, identifiers, actor, input.channel ?? null))) return null;
      await this.refuseShownIdentifiers(existing.customer, identifiers, 'registration');
      await this.auditIdentifierMatch(existing.customer, existing.matched, actor, input.channel ?? null, { source: 'registration' });
      return this.linkMissing(existing.customer, identifiers, actor, input.channel ?? null, 'registration');
    }

    const customerId = newCustomerId();
    const { dataKey, wrapped } = this.envelope.createDataKey(customerId);
    const email = identifiers.find((i) => i.kind === 'EMAIL')?.normalised ?? null;
    const phone = identifiers.find((i) => i.kind === 'PHONE')?.normalised ?? null;
    const clear: Record<PiiField, string | null> = { DISPLAY_NAME: attributes.displayName, EMAIL: email, PHONE: phone };
    const encrypted: EncryptedAttributes = {};
    for (const field of Object.keys(clear) as PiiField[]) {
      const value = clear[field];
      if (value !== null) encrypted[field] = this.envelope.encryptField(dataKey, customerId, field, value);
    }
    const customer: CustomerRecord = {
      id: customerId,
      status: 'ACTIVE',
      country: attributes.country,
      preferredLanguage: attributes.preferredLanguage,
      createdAt: new Date(),
      erasedAt: null,
      masked: maskAttributes(clear),
      encrypted,
      dataKey: wrapped,
      registrationPending: true,
    };
    await this.repository.insertCustomer(customer, wrapped);

    // The first identifier claimed decides who wins a registration race: its hash is a unique _id.
    const [primary, ...others] = claimOrder as [HashedIdentifier, ...HashedIdentifier[]];
    const claim = await this.repository.claimIdentifier(this.toRecord(primary, customerId, customer.createdAt));
    if (!claim.claimed) {
      await this.repository.deleteUnclaimedCustomer(customerId);
      // Claimed by a call still linking it, which may yet take it back: run again once it has settled (findOwner).
      if (isFreshClaim(claim.pendingSince)) return null;
      const [owner] = await this.repository.findByIds([claim.ownerId]);
      if (!owner) {
        // Left by a registration that failed half-way (see findOwner): taken back, and this one runs again.
        await this.repository.deleteIdentifier(primary.hashes[0] as string, claim.ownerId);
        return null;
      }
      if (isSettling(owner)) return null;
      const winner = await this.loadActive(claim.ownerId);
      if (!(await this.registeredBeforeNaming(winner, [primary], actor, input.channel ?? null))) return null;
      await this.refuseShownIdentifiers(winner, others, 'registration');
      await this.auditIdentifierMatch(winner, primary, actor, input.channel ?? null, { source: 'registration' });
      return this.linkMissing(winner, others, actor, input.channel ?? null, 'registration');
    }
    const claimed = [primary];
    // The others are claimed pending (no link yet: not resolved, listed or counted; isFreshClaim) and settled with
    // CUSTOMER_REGISTERED below. Filed whole at once, they stayed linked without an event when another call completed
    // this registration meanwhile (it had slowed past REGISTRATION_SETTLING_MS): past the identifier bound, and on a
    // customer erased in between (a regression probe).
    const pendingClaims: Array<{ hash: string }> = [];
    for (const other of others) {
      const otherClaim = await this.repository.claimIdentifier({ ...this.toRecord(other, customerId, customer.createdAt), pendingSince: new Date() });
      if (otherClaim.claimed) {
        claimed.push(other);
        pendingClaims.push({ hash: other.hashes[0] as string });
        continue;
      }
      // A racing registration of the same person found this customer by the identifiers claimed so far and linked
      // this one to it: it is this customer's already. (Taken for a lost race, it had this customer deleted under
      // the other call's answer: "erased" and NOT_FOUND for identifiers nobody erased; a probe.)
      if (otherClaim.ownerId === customerId) continue;
      // Two registrations shared a new identifier (two emails, one phone) and the other one got it: undo this
      // customer, which nobody was told about, rather than answer with an identifier missing. Run again, this
      // registration then does what it would have done had it come second: link its identifiers to that customer.
      // Under the customer's lock, as completeRegistration: a call that found this customer pending for longer than
      // REGISTRATION_SETTLING_MS (this one slowed down under load) may have completed it, written its events and
      // answered with it; it stays then, with what it held when completed, and the next attempt answers as a
      // registration of these identifiers finds them now. Undone without the lock, it left events naming a customer
      // that did not exist, one a CUSTOMER_REGISTERED of 0 identifiers (a regression probe, 40 racing registrations
      // on two replicas).
      await this.repository.withCustomerLock(customerId, async () => {
        const [current] = await this.repository.findByIds([customerId], { ciphertexts: false });
        if (current && !current.registrationPending) return this.takeBackClaims(pendingClaims, customerId);
        for (const identifier of claimed) await this.repository.deleteIdentifier(identifier.hashes[0] as string, customerId);
        await this.repository.deleteUnclaimedCustomer(customerId);
      });
      return null;
    }

    // Under the customer's lock, as a repeat that completes a pending registration writes its event (below) and
    // settles it there: of the two, only the first writes CUSTOMER_REGISTERED.
    let settled = false;
    await this.repository.withCustomerLock(customerId, async () => {
      try {
        // A racing call that completed this registration (completeRegistration, under this lock) settled it, with
        // what it held then: this call's pending claims are taken back below, and the next attempt links them as a
        // registration of a known customer does (events, the bound). Or an erasure marked it meanwhile. Read by _id
        // (FerretDB scans the audit events for any other filter: reading the trail here made seeding 300 customers
        // take twice as long).
        const [current] = await this.repository.findByIds([customerId], { ciphertexts: false });
        if (!current || current.status !== 'ACTIVE' || !current.registrationPending) return;
        await this.audit.append({ ...registeredEvent(customerId, actor, input.channel ?? null, identifiers[0] as HashedIdentifier, identifiers, wrapped), expectsNewChain: true });
      } catch (error) {
        // Not registered unless audited: undo the customer nobody was told about, so that repeating the request
        // registers it whole, with its event. Should the store be down for this too, the customer stays pending
        // and the repeat completes it (completeRegistration).
        for (const identifier of claimed) await this.repository.deleteIdentifier(identifier.hashes[0] as string, customerId).catch(() => undefined);
        await this.repository.deleteUnclaimedCustomer(customerId).catch(() => undefined);
        throw error;
      }
      settled = true;
      // Under the lock too: FerretDB loses one of two concurrent updates of a document, and a link fills this one's
      // attributes under the lock. Should these fail, the claims count as the customer's once stale (a minute), and
      // the next registration of these identifiers settles the customer.
      for (const { hash } of pendingClaims) await this.repository.settleIdentifier(hash, customerId).catch(() => undefined);
      await this.repository.settleRegistration(customerId).catch(() => undefined);
    });
    if (!settled) {
      await this.takeBackClaims(pendingClaims, customerId);
      return null;
    }
    const { registrationPending: _pending, ...registered } = customer;
    return registered;
  }

  /**
   * A registration whose store died between storing the customer and claiming its first identifier left a customer
   * that no identifier leads to (so no repeat completes it and no erasure reaches it), holding encrypted attributes
   * and the key that opens them: a probe found them after stopping and killing FerretDB under registrations. Once
   * pending for `olderThanMs` with no identifier (a registration in progress claims one within milliseconds), it is
   * deleted with its key, under its lock. Returns how many were.
   */
  async sweepAbandonedRegistrations(olderThanMs = ABANDONED_REGISTRATION_MS): Promise<number> {
    const ids = await this.repository.findPendingRegistrations(new Date(Date.now() - olderThanMs));
    if (ids.length === 0) return 0;
    const held = await this.repository.findIdentifiersByCustomerIds(ids);
    let removed = 0;
    for (const [i, id] of ids.entries()) {
      if ((held[i] ?? []).length > 0) continue;
      await this.repository.withCustomerLock(id, async () => {
        if (((await this.repository.findIdentifiersByCustomerIds([id]))[0] ?? []).length > 0) return;
        await this.repository.deleteUnclaimedCustomer(id);
        removed += 1;
      });
    }
    return removed;
  }

  /**
   * A customer an event is about to name, or a call to answer with: one still `registrationPending` past
   * REGISTRATION_SETTLING_MS (a registration that died half-way, or one slowed down under load) is completed first,
   * under its lock, so that its registration can no longer undo it under that event. False when it was undone: the
   * caller looks again. (Named while pending, a customer then undone left IDENTITY_RESOLUTION events, some refusing a
   * call with CONFLICT for it, in chains of customers that did not exist; a regression probe.)
   */
  private async registeredBeforeNaming(customer: CustomerRecord, identifiers: readonly HashedIdentifier[], actor: Actor, channel: Channel | null): Promise<boolean> {
    return !customer.registrationPending || this.completeRegistration(customer, identifiers, actor, channel);
  }

  /**
   * A registration of these identifiers failed half-way while the store was down and its clean-up failed too: the
   * customer and some identifiers stayed, without CUSTOMER_REGISTERED. This registration completes it, under the
   * customer's lock: the event is written unless it was (the first call's reply may have been lost), the rest of
   * the identifiers are linked after, and the customer is settled. False when the customer is gone meanwhile (the
   * first call's clean-up ran): the caller registers afresh.
   */
  private async completeRegistration(customer: CustomerRecord, identifiers: readonly HashedIdentifier[], actor: Actor, channel: Channel | null): Promise<boolean> {
    return this.repository.withCustomerLock(customer.id, async () => {
      const [current] = await this.repository.findByIds([customer.id], { ciphertexts: false });
      if (!current) return false;
      if (!current.registrationPending) return true;
      if (!(await this.audit.hasEvent(customer.id, 'CUSTOMER_REGISTERED'))) {
        // In the order this call lists them (the store's order follows the hashes): `details.kinds` as a registration writes it.
        const listed = (record: IdentifierRecord) => {
          const at = identifiers.findIndex((i) => i.hashes.includes(record.hash));
          return at < 0 ? identifiers.length : at;
        };
        // What it holds, its registration's pending claims included: settled below, they count. A registration
        // still running (slowed past REGISTRATION_SETTLING_MS) takes back what it claims after this.
        const held = ((await this.repository.findIdentifiersByCustomerIds([customer.id]))[0] ?? []).sort((a, b) => listed(a) - listed(b));
        const primary = identifiers.find((i) => held.some((h) => i.hashes.includes(h.hash))) ?? (identifiers[0] as HashedIdentifier);
        const event = registeredEvent(customer.id, actor, channel, primary, held, customer.dataKey);
        await this.audit.append({ ...event, details: { ...event.details, completed: true } });
        // Counted above: settled, so that no link completes them later with an IDENTIFIER_LINKED of its own, and its
        // registration, if still running, does not take them back.
        for (const record of held) if (record.pendingSince) await this.repository.settleIdentifier(record.hash, customer.id);
      }
      await this.repository.settleRegistration(customer.id);
      return true;
    });
  }

  async linkIdentifier(customerId: string, identifier: IdentifierInput, actor: Actor): Promise<CustomerRecord> {
    assertCustomerId(customerId);
    const [hashed] = this.hashIdentifiers([identifier]) as [HashedIdentifier];
    withdrawRequestIdNaming([hashed]);
    const customer = await this.loadActive(customerId);
    await this.refuseShownIdentifiers(customer, [hashed], 'link');
    return this.linkMissing(customer, [hashed], actor, null, 'link');
  }

  async resolve(input: ResolveInput, actor: Actor): Promise<Resolution> {
    const [hashed] = this.hashIdentifiers([input.identifier]) as [HashedIdentifier];
    withdrawRequestIdNaming([hashed]);
    const interactionId = validateInteractionId(input.interactionId);
    // Stored in the IDENTITY_RESOLUTION event, which outlives an erasure: the identifier being resolved must not come
    // back in clear there (a phone number's digits after a letter, `x447700900123`, passed until a probe).
    if (interactionId !== null && namesIdentifier(interactionId, hashed)) {
      throw new BadUserInputError('interactionId must not contain the identifier being resolved', { field: 'interactionId' });
    }
    const records = await this.repository.findIdentifiersByHashes(hashed.hashes);
    // A claim still pending is no link yet (see identifiersOf): a refused registration's claims resolved to its
    // customer while it waited, for up to 20 s (a regression probe). Nobody, until the link is settled or stale, or
    // its registration past settling (claimStands; completed below).
    const owners = new Map((await this.repository.findByIds([...new Set(records.map((record) => record.customerId))])).flatMap((c) => (c ? [[c.id, c] as const] : [])));
    const found = records.find((record) => claimStands(record, owners.get(record.customerId))) ?? null;
    const customer = found ? (owners.get(found.customerId) ?? null) : null;
    // A customer a registration is still settling may yet be undone: no match until it settles (a probe got such
    // a customer's id back, and its event named a customer that then did not exist).
    const isMatch =
      customer !== null && customer.status === 'ACTIVE' && !isSettling(customer) && (await this.registeredBeforeNaming(customer, [hashed], actor, input.channel ?? null));
    // Nor the customer's other identifiers (their phone number in an interaction id of a lookup by email).
    if (isMatch && interactionId !== null) await this.refuseOwnIdentifiers([{ customerId: customer.id, texts: [['interactionId', interactionId]] }]);
    // A lookup of an identifier whose customer is erased, or being erased, is one of that person's calls: its event
    // keeps no identifier hash, so that no lookup key ties it to whoever registers with the identifier next (a probe
    // found such lookups, made while an erasure ran, listed in the next registrant's export).
    const heldByErased = records.some((record) => owners.get(record.customerId)?.status === 'ERASED');
    const resolved = (match: { customer: CustomerRecord; keyVersion: string } | null, ofErased = heldByErased) =>
      this.audit.append({
        type: 'IDENTITY_RESOLUTION',
        customerId: match?.customer.id ?? null,
        actor: actorOf(actor),
        channel: input.channel ?? null,
        interactionId,
        resolutionSource: 'identifier_hash',
        identifierHash: match === null && ofErased ? null : (hashed.hashes[0] ?? null),
        identifierPriorHashes: hashed.hashes.slice(1),
        requestId: actor.requestId,
        details: { matched: match !== null, matchedKeyVersion: match?.keyVersion ?? null },
        sealingKey: match?.customer.dataKey ?? null,
      });
    let event: AuditEventRecord;
    try {
      // Matched under an older key: re-filed under the current one, so the next lookup needs one query.
      if (isMatch) await this.rekey(hashed, records, customer.id);
      event = await resolved(isMatch && found ? { customer, keyVersion: found.keyVersion } : null);
    } catch (error) {
      // Erased between the match and its event (the chain's head is the erasure's DATA_DELETION, or the re-key
      // found the customer erased): answered as the same lookup a moment later is, nobody, and recorded as such. It
      // was refused as "The customer has been erased", with no event written, telling the caller whose identifier
      // it had been (a probe).
      if (!isMatch || !(error instanceof CustomerErasedError)) throw error;
      return { customer: null, matchedBy: null, auditEventId: (await resolved(null, true)).id };
    }
    return {
      customer: isMatch ? customer : null,
      matchedBy: isMatch ? hashed.kind : null,
      auditEventId: event.id,
    };
  }

  /**
   * Where, if anywhere, text about customers names one of their own CRM ids or phone numbers: the path of the first
   * such text and what it names, or null. A CRM id has no shape that free text could be screened for, and a phone
   * number's shape is not screened in record ids and statuses (an order number is a digit run too), but a customer's
   * own are known by hash: every word of the text as a CRM id would be normalised, and every digit run of a phone
   * number's length as an international number, is hashed and looked for among them. One `find` on `identifiers`
   * for all the customers.
   */
  private async findOwnIdentifierIn(items: ReadonlyArray<OwnIdentifierScreen>): Promise<{ path: string; kind: IdentifierKind | 'NAME' | 'HASH' } | null> {
    if (items.every((item) => item.texts.length === 0)) return null;
    const customerIds = [...new Set(items.map((item) => item.customerId))];
    const identifiers = await this.repository.findIdentifiersByCustomerIds(customerIds);
    // The customer's identifier hashes themselves (what a data-subject export shows): one pasted as an erasure's
    // reference or reason was kept in DATA_DELETION for good and tied the erased trail to whoever registers with the
    // identifier next (a probe). Looked for first, as the digest after the key version.
    const digestsOf = new Map(customerIds.map((id, i) => [id, hashDigestsOf(identifiers[i] ?? [])]));
    // Each text folded once, for the digest screen and the identifier screens below (a push holds up to 500 texts).
    const folds = new Map<string, string>();
    const foldOf = (text: string): string => {
      let folded = folds.get(text);
      if (folded === undefined) folds.set(text, (folded = foldForMatching(text)));
      return folded;
    };
    for (const item of items) {
      const digests = digestsOf.get(item.customerId);
      if (digests === undefined || digests.length === 0) continue;
      for (const [path, text] of item.texts) if (holdsDigest(text, foldOf(text), digests)) return { path, kind: 'HASH' };
    }
    const hashesOfKind = (records: readonly IdentifierRecord[], kind: IdentifierKind) => new Set(records.filter((r) => r.kind === kind).flatMap(hashesOf));
    const known = new Map(
      customerIds.map((id, i) => [
        id,
        {
          crm: hashesOfKind(identifiers[i] ?? [], 'CRM_ID'),
          crmSkeletons: skeletonIndexOf((identifiers[i] ?? []).flatMap((record) => (record.kind === 'CRM_ID' && record.skeleton ? [record.skeleton] : []))),
          phone: hashesOfKind(identifiers[i] ?? [], 'PHONE'),
          email: hashesOfKind(identifiers[i] ?? [], 'EMAIL'),
        },
      ]),
    );
    // The customer's shown email, decrypted: its letters and digits (`skeletonOf`), and its local part's, looked for as
    // whole words in a row whatever separates them (the local part alone as a fingerprint, an address slugified into an
    // id, `@` written as `#` or a space; probes). Other emails are known by hash only (emailCandidates).
    // One read of the customers with their ciphertexts serves both this and the display-name screen (findNameIn).
    // The shown phone number too: its digits anywhere in the text, whatever stands between them (`callback 442079
    // then 480230`, `order 442079-x-480230`: a word ended each digit run, and each run alone was too short; a probe).
    // Other phone numbers are known by hash only (phoneCandidates).
    const withEmail = customerIds.filter((id) => (known.get(id)?.email.size ?? 0) > 0);
    const withPhone = customerIds.filter((id) => (known.get(id)?.phone.size ?? 0) > 0);
    const nameScreened = items.filter((item) => item.screensName && item.texts.length > 0);
    const toRead = [...new Set([...withEmail, ...withPhone, ...nameScreened.map((item) => item.customerId)])];
    const customers = new Map<string, CustomerRecord>();
    if (toRead.length > 0) for (const customer of await this.repository.findByIds(toRead)) if (customer !== null) customers.set(customer.id, customer);
    const named = this.findNameIn(nameScreened, customers);
    if (named) return named;
    const shownEmails = new Map<string, EmailSkeletons>();
    const shownPhones = new Map<string, { international: string; national: string }>();
    const phoneHolders = new Set(withPhone);
    for (const id of new Set([...withEmail, ...withPhone])) {
      const customer = customers.get(id);
      if (customer === undefined) continue;
      const clear = this.decryptFields(customer, phoneHolders.has(id) ? ['EMAIL', 'PHONE'] : ['EMAIL']);
      if (typeof clear.EMAIL === 'string') shownEmails.set(id, emailSkeletons(clear.EMAIL));
      if (typeof clear.PHONE === 'string') shownPhones.set(id, phoneDigitsOf(clear.PHONE));
    }
    let phoneForms = 0;
    let emailForms = 0;
    const names = (kind: IdentifierKind, hashes: ReadonlySet<string>, candidatesOf: () => Set<string>) => {
      if (hashes.size === 0) return false;
      const candidates = candidatesOf();
      if (kind === 'PHONE' && (phoneForms += candidates.size) > MAX_SCREENED_PHONE_FORMS) {
        throw new BadUserInputError('The request holds too many numbers to check against the customer\'s phone numbers; send fewer records at a time', { field: 'input' });
      }
      if (kind === 'EMAIL' && (emailForms += candidates.size) > MAX_SCREENED_EMAIL_FORMS) {
        throw new BadUserInputError('The request holds too many words to check against the customer\'s email addresses; send fewer records at a time', { field: 'input' });
      }
      for (const candidate of candidates) if (this.keyring.hashAll(kind, candidate).some((hash) => hashes.has(hash))) return true;
      return false;
    };
    // The skeleton runs hashed so far in this screen, and what each hashed to (texts repeat, and so do their words).
    const skeletonRuns = new Map<string, string>();
    for (const item of items) {
      const own = known.get(item.customerId);
      if (!own) continue;
      for (const [path, text] of item.texts) {
        // Folded once for every kind (and the digest screen above), and only when the customer has one to compare with.
        const fold = () => foldOf(text);
        if (names('CRM_ID', own.crm, () => crmIdCandidates(fold()))) return { path, kind: 'CRM_ID' };
        if (this.spellsCrmSkeleton(text, own.crmSkeletons, skeletonRuns)) return { path, kind: 'CRM_ID' };
        if (names('PHONE', own.phone, () => phoneCandidates(fold()))) return { path, kind: 'PHONE' };
        const shownPhone = shownPhones.get(item.customerId);
        if (shownPhone !== undefined && holdsPhoneDigits(fold(), shownPhone)) return { path, kind: 'PHONE' };
        const shown = shownEmails.get(item.customerId);
        if (shown !== undefined && spellsEmail(text, shown)) return { path, kind: 'EMAIL' };
        if (names('EMAIL', own.email, () => emailCandidates(fold()))) return { path, kind: 'EMAIL' };
      }
    }
    return null;
  }

  /**
   * Whether some words of the text in a row, read without what separates them, spell one of these CRM id skeletons
   * (spellsInWholeWords, compared by keyed hash): `ACME X1234`, `ACME/X1234`, `ACME - X1234` and `acmex1234` for
   * ACME-X1234. The forms crmIdCandidates reads keep the id's own separators: a probe kept all four in a consent's
   * source, a grant's justification and an erasure's reason, after the erasure too. Only runs as long as a skeleton
   * are hashed, under that skeleton's key version, each once per screen (`hashed`), at most MAX_SCREENED_SKELETON_FORMS
   * (a regression probe's push of single-letter words, against 49 CRM ids of as many lengths, took 4 s of CPU).
   * Read twice: with dates, times and amounts aside, as in the phone screen (maskDatesTimesAmounts: `10:30` is no CRM
   * id 1030, nor `2024-11-30` 20241130; the same probe), and as written for runs with a letter in them, which no date
   * spells alone (`SR 2025-01-15-0042` for SR-2025-01-15-0042, `INC 14:30:22` for INC-1430-22: the date read aside,
   * they passed; a regression probe). Numbers standing apart, words of digits joined by spaces only, spell no CRM id
   * of digits only (`Room 100 234 people` for 100234; the same probe): seven digits or more so joined are refused by
   * the phone-shape screen anyway.
   */
  private spellsCrmSkeleton(text: string, index: SkeletonIndex | null, hashed: Map<string, string>): boolean {
    if (index === null) return false;
    const masked = maskDatesTimesAmounts(text);
    if (this.spellsSkeletonIn(skeletonWordsWithJoints(masked), index, hashed, false)) return true;
    return masked !== asciiDigits(text) && this.spellsSkeletonIn(skeletonWordsWithJoints(text), index, hashed, true);
  }

  private spellsSkeletonIn(
    { words, spaced }: { words: readonly string[]; spaced: readonly boolean[] },
    { wanted, versionsOf, longest }: SkeletonIndex,
    hashed: Map<string, string>,
    needsLetter: boolean,
  ): boolean {
    for (let start = 0; start < words.length; start++) {
      let run = '';
      let digitsOnly = true;
      let spacedOnly = true;
      for (let end = start; end < words.length && run.length < longest; end++) {
        const word = words[end] as string;
        run += word;
        digitsOnly &&= /^\d+$/.test(word);
        if (end > start) spacedOnly &&= spaced[end] === true;
        if (end > start && digitsOnly && spacedOnly) continue;
        if (needsLetter && digitsOnly) continue;
        for (const version of versionsOf.get(run.length) ?? []) {
          if (!this.keyring.hasVersion(version)) continue;
          const key = `${version}:${run}`;
          let hash = hashed.get(key);
          if (hash === undefined) {
            if (hashed.size >= MAX_SCREENED_SKELETON_FORMS) {
              throw new BadUserInputError("The request holds too many words to check against the customer's CRM ids; send fewer records at a time", { field: 'input' });
            }
            hash = this.keyring.skeletonHash(run, version);
            hashed.set(key, hash);
          }
          if (wanted.has(hash)) return true;
        }
      }
    }
    return false;
  }

  /** A CRM id's skeleton as the screen looks for it (spellsCrmSkeleton), or null for another kind or one too short. */
  private skeletonFor(identifier: HashedIdentifier): { hash: string; length: number } | null {
    if (identifier.kind !== 'CRM_ID') return null;
    const skeleton = skeletonOf(identifier.normalised);
    return skeleton.length < MIN_SKELETON_LENGTH ? null : { hash: this.keyring.skeletonHash(skeleton), length: skeleton.length };
  }

  /**
   * Where text holds the customer's full display name, its words in a row (either order, any case, accents
   * folded): the path, or null. A probe erased "Gone Person" with the reason "Because Gone Person wrote in", kept
   * in the DATA_DELETION event. Names of one word are not looked for (`May`, `Will` are words too); the name is
   * decrypted from `customers` (read with their ciphertexts by findOwnIdentifierIn), one key unwrap each.
   */
  private findNameIn(items: ReadonlyArray<OwnIdentifierScreen>, customers: ReadonlyMap<string, CustomerRecord>): { path: string; kind: 'NAME' } | null {
    if (items.every((item) => item.texts.length === 0)) return null;
    const names = new Map<string, readonly string[]>();
    for (const customer of new Set(items.map((item) => customers.get(item.customerId)))) {
      if (customer === undefined) continue;
      const name = this.decryptFields(customer, ['DISPLAY_NAME']).DISPLAY_NAME;
      const words = typeof name === 'string' ? wordsOf(name) : [];
      // Also run together, as one word, when that is long enough not to be an ordinary one (`dsr-zeldaquimby` kept
      // "Zelda Quimby" in an erasure's event; a regression probe).
      const together = [words.join(''), [...words].reverse().join('')].filter((form) => form.length >= MIN_NAME_RUN_TOGETHER);
      if (words.length > 1) names.set(customer.id, [words.join(' '), [...words].reverse().join(' '), ...together]);
    }
    for (const item of items) {
      const forms = names.get(item.customerId);
      if (forms === undefined) continue;
      for (const [path, text] of item.texts) {
        // Whole words only: "Al Green" is not in "green-lit" (a probe).
        const padded = ` ${wordsOf(text).join(' ')} `;
        if (forms.some((form) => padded.includes(` ${form} `))) return { path, kind: 'NAME' };
      }
    }
    return null;
  }

  /**
   * Refuses (BAD_USER_INPUT, naming the field and never the value) text about customers that names one of their own
   * CRM ids or phone numbers: every free text and id stored about a customer (support records, a consent's source, a
   * grant's justification, an erasure's reason and reference) goes through here before it is stored.
   */
  async refuseOwnIdentifiers(items: ReadonlyArray<OwnIdentifierScreen>, { screensRequestId = false }: { screensRequestId?: boolean } = {}): Promise<void> {
    // The caller's x-request-id too, screened like the first item's texts (names included when they are), where it is
    // kept as long as they are (an erasure's DATA_DELETION event): one naming the customer is replaced, not refused
    // (a header is no argument to fix), and the texts are screened again without it.
    const requestId = screensRequestId && items[0] !== undefined ? callerRequestId() : null;
    const withRequestId = requestId === null ? items : [...items, { ...items[0]!, texts: [[REQUEST_ID_PATH, requestId] as const] }];
    let found = await this.findOwnIdentifierIn(withRequestId);
    if (found?.path === REQUEST_ID_PATH) {
      withdrawRequestId();
      found = await this.findOwnIdentifierIn(items);
    }
    if (found) throw new BadUserInputError(`${found.path} must not contain the customer's ${OWN_IDENTIFIER_NAMES[found.kind]}`, { field: found.path });
  }

  /**
   * Whether a caller's `x-request-id` names anybody's CRM id, phone number or email address, read as the support-text screen reads
   * text: every form hashed under every key version and looked up in one `find` on `identifiers`. The id goes into
   * the request's log lines and audit events, which outlive an erasure (a probe sent a customer's CRM id as the
   * request id of reads, approvals, exports and links; it was kept and logged). Checked once per request that
   * carries one (src/http/http-server.ts); an identifier the request itself brings, not stored yet, is caught where
   * it is hashed (withdrawRequestIdNaming).
   */
  async namesAnIdentifier(requestId: string): Promise<boolean> {
    // Read as it is and, when it is base64 or hex of text, as that text (decodedTextsOf), whose `@` is read as a
    // separator is (an id itself cannot hold one; emailCandidates reads an address written with another character).
    const decoded = decodedTextsOf(requestId).map((text) => text.replaceAll('@', '.'));
    if ([requestId, ...decoded].some(mayHoldBareDigest)) return true;
    const hashes = [requestId, ...decoded].flatMap((text) => this.identifierHashesIn(text));
    return hashes.length > 0 && (await this.repository.hasAnyIdentifier(hashes));
  }

  /** The hashes, under every key version, of every identifier form namesAnIdentifier reads in one text. */
  private identifierHashesIn(text: string): string[] {
    const folded = foldForMatching(text);
    // Words run together in camel case are words too, as the screen of a request's own identifiers reads them
    // (namesIdentifier): `MarySmithK9ExampleOrg` and `zqLeak7731ExampleCom` named stored addresses and were logged as
    // request ids and operation names (a probe). Split before each capital after a small letter or digit, and also between
    // letters and digits (`Leak7731`), as one address or the other needs.
    // Lower-cased once split: a local part keeps its case when normalised, and addresses are registered in lower case.
    const camel = folded.replace(/(?<=[\p{Ll}\p{N}])(?=\p{Lu})/gu, '.');
    const digits = camel.replace(/(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/gu, '.');
    // And with every separator a dot, where camel case mixes with them (`Mary_SmithK9_ExampleOrg`, a regression probe).
    const forms = camel === folded ? [folded] : [folded, ...[camel, digits, camel.replace(/[_-]/g, '.')].map((form) => form.toLowerCase())];
    const emails = new Set(forms.flatMap((form) => [...emailCandidates(form)]));
    return [
      ...[...crmIdCandidates(folded)].flatMap((form) => this.keyring.hashAll('CRM_ID', form)),
      ...[...phoneCandidates(folded), ...phoneDigitsAnywhere(folded)].flatMap((form) => this.keyring.hashAll('PHONE', form)),
      // An address with its `@` written as another character (`jane_doe7xx.example.com`, a probe's request id and
      // operation name): an address shape is refused before this, this one is not.
      ...[...emails].flatMap((form) => this.keyring.hashAll('EMAIL', form)),
      // An identifier's hash itself, as a data-subject export shows it (a regression probe's `req-<digest>` was kept as
      // the request id of a consent receipt, a lookup and an export, after the erasure too): under every key version.
      ...[...digestsIn(text)].flatMap((digest) => this.keyring.versions.map((version) => `${version}:${digest}`)),
    ];
  }

  /**
   * Identifiers a request sends, read from its parameters as sent: the strings of its variables and the string literals
   * of its query that are, whole, an email address or an international phone number. The caller's x-request-id and
   * operation name are screened against them (withdrawRequestIdNaming) before the request runs, whether or not it gets
   * as far as a resolver that reads them: one refused for a missing scope, a variable of the wrong type or a field it
   * cannot select logged both (a regression probe). Nothing is hashed or kept.
   */
  screenIdentifiersSent(params: unknown): void {
    const sent: ReadIdentifier[] = [];
    let tried = 0;
    for (const text of textsSentIn(params)) {
      const kind = text.includes('@') ? 'EMAIL' : PHONE_SENT.test(text) ? 'PHONE' : null;
      if (kind === null) continue;
      // Bounded: each is compared with the request id and the operation name (a registration sends at most ten), and
      // each try costs a parse (1,000 phone-like strings that are no numbers took 110 ms; a regression probe).
      if (sent.length >= MAX_IDENTIFIERS_SENT || ++tried > MAX_IDENTIFIERS_SENT * 2) break;
      try {
        sent.push({ kind, normalised: normaliseIdentifier(kind, text) });
      } catch {
        // Not an identifier: nothing to screen for.
      }
    }
    if (sent.length > 0) withdrawRequestIdNaming(sent);
  }

  /**
   * One customer's fields, read with its ciphertexts and wrapped data key (unwrapped once for all fields). An
   * erased customer or a missing key gives nulls; a ciphertext that does not authenticate gives an Error for its
   * field alone (a wrapped key that does not, for every field).
   */
  decryptFields(customer: CustomerRecord, fields: Iterable<PiiField>): Partial<Record<PiiField, string | null | Error>> {
    const revealed: Partial<Record<PiiField, string | null | Error>> = {};
    const ciphertexts = ciphertextsOf(customer);
    let dataKey: Buffer | Error | null = null;
    if (customer.dataKey && customer.status === 'ACTIVE') {
      try {
        dataKey = this.envelope.unwrapDataKey(customer.id, customer.dataKey);
      } catch (error) {
        dataKey = asError(error);
      }
    }
    try {
      for (const field of fields) {
        const value = ciphertexts[field];
        if (dataKey instanceof Error) revealed[field] = dataKey;
        else if (dataKey === null || !value) revealed[field] = null;
        else {
          try {
            revealed[field] = this.envelope.decryptField(dataKey, customer.id, field, value);
          } catch (error) {
            revealed[field] = asError(error);
          }
        }
      }
    } finally {
      if (dataKey instanceof Buffer) dataKey.fill(0);
    }
    return revealed;
  }

  /** Runs `write` holding the customer's lock (across processes): one fill, erasure or consent change at a time. */
  withCustomerLock<T>(customerId: string, write: () => Promise<T>): Promise<T> {
    return this.repository.withCustomerLock(customerId, write);
  }

  /**
   * Checks again, after a write about the customer, that they are still active. An erasure may have begun after the
   * write's own check and swept the stores before the write landed: then `takeBack` removes what the customer has
   * there (whatever the erasure missed, it would have removed anyway) and the write is refused with
   * CustomerErasedError. A write that landed before the erasure marked the customer is swept by the erasure itself.
   */
  async confirmStillActive(customerId: string, takeBack: () => Promise<unknown>): Promise<void> {
    const [after] = await this.repository.findByIds([customerId], { ciphertexts: false });
    if (after?.status === 'ACTIVE') return;
    await takeBack();
    throw new CustomerErasedError();
  }

  async loadActive(customerId: string): Promise<CustomerRecord> {
    const [customer] = await this.repository.findByIds([customerId]);
    if (!customer) throw new NotFoundError('No customer has this id');
    if (customer.status !== 'ACTIVE') throw new CustomerErasedError();
    return customer;
  }

  private hashIdentifiers(inputs: readonly IdentifierInput[]): HashedIdentifier[] {
    if (inputs.length === 0) throw new BadUserInputError('At least one identifier is required', { field: 'identifiers' });
    if (inputs.length > MAX_IDENTIFIERS_PER_REGISTRATION) {
      throw new BadUserInputError(`At most ${MAX_IDENTIFIERS_PER_REGISTRATION} identifiers are accepted at once`, { field: 'identifiers' });
    }
    const seen = new Set<string>();
    const hashed: HashedIdentifier[] = [];
    for (const input of inputs) {
      const normalised = normaliseIdentifier(input.kind, input.value);
      const hashes = this.keyring.hashAll(input.kind, normalised);
      const current = hashes[0] as string;
      if (seen.has(current)) continue;
      seen.add(current);
      hashed.push({ kind: input.kind, normalised, hashes });
    }
    return hashed;
  }

  /**
   * `linkedAt` defaults to now; a registration's identifiers carry the customer's creation time. The hashes under
   * older configured key versions go with the record (`priorHashes`): what was filed under them before, such as
   * the person's anonymous lookups, stays findable for data-subject access and erasure after a rotation.
   */
  private toRecord(identifier: HashedIdentifier, customerId: string, linkedAt: Date = new Date()): IdentifierRecord {
    return {
      hash: identifier.hashes[0] as string,
      kind: identifier.kind,
      keyVersion: this.keyring.currentVersion,
      customerId,
      linkedAt,
      priorHashes: identifier.hashes.slice(1),
      skeleton: this.skeletonFor(identifier),
    };
  }

  /**
   * An identifier found under other key versions (`found`: its records under every configured version) is also
   * filed under the current one, with the time it was first linked and every hash it had as `priorHashes`; a
   * current record that is already there takes any hash it lacks. The old records stay: mid-rotation, replicas
   * that disagree on the current version each re-key towards their own, and one deleting the record another has
   * just filed could leave the identifier with none (a probe made two such replicas flip one identifier between
   * versions at every lookup). `Customer.identifiers` lists each identifier once (`listedIdentifiers`), and the
   * old version's records are removed when it is retired (`npm run identifiers:retire`). Records of another
   * customer (the same identifier registered twice mid-rotation) are left alone.
   */
  private async rekey(identifier: HashedIdentifier, found: readonly IdentifierRecord[], customerId: string): Promise<void> {
    const current = this.keyring.currentVersion;
    const mine = found.filter((record) => record.customerId === customerId);
    const others = mine.filter((record) => record.keyVersion !== current);
    const filed = mine.find((record) => record.keyVersion === current);
    // A CRM id filed before its skeleton was (2026-12-02) gets it the next time it is seen in clear.
    const skeleton = filed && !filed.skeleton && !filed.pendingSince ? this.skeletonFor(identifier) : null;
    if (filed && skeleton) await this.repository.fileSkeleton(filed.hash, customerId, skeleton);
    if (others.length === 0) return;
    const priorHashes = [...new Set([...identifier.hashes.slice(1), ...others.flatMap(hashesOf)])].filter((hash) => hash !== identifier.hashes[0]);
    if (filed) {
      await this.repository.addPriorHashes(filed.hash, customerId, priorHashes.filter((hash) => !filed.priorHashes.includes(hash)));
      return;
    }
    const linkedAt = new Date(Math.min(...others.map((record) => record.linkedAt.getTime())));
    const record = { ...this.toRecord(identifier, customerId, linkedAt), priorHashes };
    const { claimed } = await this.repository.claimIdentifier(record);
    // An erasure that ran whole between the match and this claim swept before the claim landed: the record would
    // tie the identifier, under both key versions, to the erased id for good, and keep the person from registering
    // again (a probe). Taken back, and the caller told the customer is erased.
    if (claimed) await this.confirmStillActive(customerId, () => this.repository.deleteIdentifier(record.hash, customerId));
  }

  /** The one customer that already owns any of these identifiers (under any key version), or null. */
  private async findOwner(
    identifiers: readonly HashedIdentifier[],
    actor: Actor,
    channel: Channel | null,
  ): Promise<{ customer: CustomerRecord; matched: HashedIdentifier } | 'settling' | typeof ERASING | typeof STALLED_ERASURE | null> {
    const found = await Promise.all(identifiers.map(async (i) => (await this.repository.findIdentifiersByHashes(i.hashes))[0] ?? null));
    const ownerIds = [...new Set(found.filter((f): f is IdentifierRecord => f !== null).map((f) => f.customerId))];
    const owners = new Map((await this.repository.findByIds(ownerIds)).flatMap((c) => (c ? [[c.id, c] as const] : [])));
    // A claim still pending is no link yet (see identifiersOf): the call that made it may yet be refused and take it
    // back. A registration answered with its customer, and linked the identifier to it once it was taken back (a
    // regression probe). Wait for it to settle, as for a customer still being registered. A stale one (its call died)
    // is the customer's: the next registration completes it; as is one of a registration past settling (see
    // claimStands). One whose customer does not exist is taken back below.
    if (found.some((record) => record !== null && owners.has(record.customerId) && !claimStands(record, owners.get(record.customerId)))) return 'settling';
    // A customer is stored before any identifier is claimed for it, and taken back after them: an identifier whose
    // customer does not exist was left by a registration that failed half-way while the store was down (its clean-up
    // failing too). Nobody can reach it, and every repeat of that registration answered NOT_FOUND: it is taken back.
    for (const record of found) {
      if (record && !owners.has(record.customerId)) await this.repository.deleteIdentifier(record.hash, record.customerId);
    }
    const live = found.map((f) => (f && owners.has(f.customerId) ? f : null));
    const liveOwners = ownerIds.filter((id) => owners.has(id));
    if (liveOwners.some((id) => isSettling(owners.get(id) as CustomerRecord))) return 'settling';
    if (liveOwners.length > 1) {
      const owned = liveOwners.map((ownerId) => ({ owner: owners.get(ownerId), matched: identifiers[live.findIndex((f) => f?.customerId === ownerId)] as HashedIdentifier }));
      await this.auditConflict(owned, actor, channel, 'registration');
      throw new ConflictError('These identifiers belong to different customers');
    }
    const customer = liveOwners[0] === undefined ? undefined : owners.get(liveOwners[0]);
    if (!customer) return null;
    // Erased, and its identifiers not removed yet: the erasure is under way, or, marked longer ago than an erasure
    // takes, failed half-way (its repeat finishes it): no use waiting for that (5 s and 200 queries per call; a probe).
    if (customer.status !== 'ACTIVE') {
      const markedAt = customer.erasedAt?.getTime() ?? 0;
      return Date.now() - markedAt > STALLED_ERASURE_MS ? STALLED_ERASURE : ERASING;
    }
    const matched = identifiers[live.findIndex((f) => f !== null)] as HashedIdentifier;
    return { customer, matched };
  }

  /**
   * Registering a known identifier answers with the customer it belongs to: an identity resolution like
   * resolveCustomer's, and audited as one (resolutionSource `registration`).
   */
  /**
   * An identifier a registration or a link brought found its customer: written to that customer's chain like a lookup.
   * `refused` when the call was refused because of it (CONFLICT): the answer still told the caller the identifier is
   * someone else's, and an `identity:write` caller past its resolveCustomer budget tested identifiers that way with
   * nothing recorded (a probe). Fails closed: unrecorded, the call fails instead of answering.
   */
  private async auditIdentifierMatch(
    customer: CustomerRecord,
    matched: HashedIdentifier,
    actor: Actor,
    channel: Channel | null,
    { source, refused = false }: { source: 'registration' | 'link'; refused?: boolean },
  ): Promise<void> {
    await this.audit.append({
      type: 'IDENTITY_RESOLUTION',
      customerId: customer.id,
      actor: actorOf(actor),
      channel,
      resolutionSource: source,
      identifierHash: matched.hashes[0] ?? null,
      requestId: actor.requestId,
      details: { matched: true, kind: matched.kind, ...(refused ? { refused: 'CONFLICT' } : {}) },
      sealingKey: customer.dataKey,
    });
  }

  /** The owners of identifiers a call was refused for (CONFLICT), each told in its own chain (auditIdentifierMatch). */
  private async auditConflict(
    owners: ReadonlyArray<{ owner: CustomerRecord | null | undefined; matched: HashedIdentifier }>,
    actor: Actor,
    channel: Channel | null,
    source: 'registration' | 'link',
  ): Promise<void> {
    for (const { owner, matched } of owners) {
      // An erased owner's chain takes no such event; its identifiers are on their way out. Nor does one whose
      // registration was undone meanwhile.
      if (owner && owner.status === 'ACTIVE' && (await this.registeredBeforeNaming(owner, [matched], actor, channel))) {
        await this.auditIdentifierMatch(owner, matched, actor, channel, { source, refused: true });
      }
    }
  }

  /**
   * Links what the customer does not have yet, all or nothing. Each link is an insert keyed by hash, so of racing
   * links of one identifier exactly one claims it. Every identifier is claimed first (the record stays `pendingSince`),
   * and only then is each attribute filled and IDENTIFIER_LINKED written: a claim refused (another customer's, or past
   * the bound) takes back the claims this call made, so a refused call links nothing. Linking as it went, a
   * registration refused with CONFLICT for its third identifier kept its second linked and audited (a probe: no order
   * of the calls one after the other ends that way). A link that finds the identifier pending for this customer waits
   * for that link to settle (or to be taken back, and then claims it itself) before it answers: it used to answer at
   * once, so callers were told "linked" for a link that then failed and was undone.
   */
  private async linkMissing(
    customer: CustomerRecord,
    identifiers: readonly HashedIdentifier[],
    actor: Actor,
    channel: Channel | null,
    /** Which call links them: a refusal is recorded under it (auditConflict). */
    source: 'registration' | 'link',
  ): Promise<CustomerRecord> {
    await this.refuseBeyondIdentifierBound(customer.id, identifiers, source);
    let changed = false;
    let claims: Array<{ identifier: HashedIdentifier; hash: string }> = [];
    const deadline = Date.now() + BOUND_CONTENTION_WAIT_MS;
    for (;;) {
      claims = [];
      try {
        // In one order for every call, as a registration claims a new customer's: two registrations of one customer
        // that listed two new identifiers in opposite orders each held one pending and waited 20 s for the other, and
        // both failed (a regression probe).
        for (const identifier of inClaimOrder(identifiers)) {
          const outcome = await this.claimOne(customer, identifier, actor, channel, source);
          if (outcome === false) continue;
          changed = true;
          if (outcome !== 'changed') claims.push({ identifier, hash: outcome.claimed });
        }
      } catch (error) {
        await this.takeBackClaims(claims, customer.id);
        throw error;
      }
      let verdict = claims.length === 0 ? 'fits' : await this.boundVerdict(customer.id, claims);
      while (verdict === 'wait' && Date.now() <= deadline) {
        await sleep(PENDING_LINK_POLL_MS);
        verdict = await this.boundVerdict(customer.id, claims);
      }
      if (verdict === 'fits') break;
      await this.takeBackClaims(claims, customer.id);
      if (verdict !== 'back-off' || Date.now() > deadline) throw tooManyIdentifiers(source);
      await this.othersClaimsSettled(customer.id, deadline);
    }
    // Completed in the caller's order: the first email or phone listed becomes the contact attribute a customer lacks.
    claims.sort((a, b) => identifiers.indexOf(a.identifier) - identifiers.indexOf(b.identifier));
    for (const [i, claim] of claims.entries()) {
      try {
        await this.completeLink(customer, claim.identifier, claim.hash, actor, channel, true);
      } catch (error) {
        // completeLink took its own claim back; those not reached yet go too. Links completed before stay, audited: a
        // store failing half-way is finished by asking again.
        await this.takeBackClaims(claims.slice(i + 1), customer.id);
        throw error;
      }
    }
    if (!changed) return customer;
    const [reloaded] = await this.repository.findByIds([customer.id]);
    if (!reloaded || reloaded.status !== 'ACTIVE') throw new CustomerErasedError();
    return reloaded;
  }

  /** Claims this call made and will not complete, taken back while still pending (nothing else reads them as links). */
  private async takeBackClaims(claims: ReadonlyArray<{ hash: string }>, customerId: string): Promise<void> {
    for (const { hash } of claims) await this.repository.deletePendingIdentifier(hash, customerId).catch(() => undefined);
  }

  /**
   * A registration refuses a display name or language that shows a CRM id, or an email's local part, registered with
   * it; an identifier linked later met no such check, so `CRM-UTPGAQ9 Smith` registered with a phone and then linked to
   * CRM-UTPGAQ9 showed every agent `CRM-UTPGAQ9 S.` (a probe; likewise `preferredLanguage: en-QUTPGA` and QUTPGA, and
   * an address's local part). Read against what agents are shown (the stored mask and the language), before anything
   * is linked or audited, for the identifiers the customer does not hold yet: one that does was accepted before this check (a
   * repeat registration of it stays an answer). No query unless the text shows one of them.
   */
  private async refuseShownIdentifiers(customer: CustomerRecord, identifiers: readonly HashedIdentifier[], source: 'registration' | 'link'): Promise<void> {
    const name = customer.masked.DISPLAY_NAME;
    const shown = (identifier: HashedIdentifier): 'displayName' | 'preferredLanguage' | null => {
      if (identifier.kind === 'CRM_ID') {
        if (name !== null && showsCrmId(name, [identifier.normalised])) return 'displayName';
        if (customer.preferredLanguage !== null && showsCrmId(customer.preferredLanguage, [identifier.normalised])) return 'preferredLanguage';
      }
      // The mask as stored, not masked again: a mask is not always its own mask (`X 2.` reads as a numbered suffix and
      // masks to `X.`, `(X ).` as a bracketed note), and masked again `zed.latdfqje7q 2.` let its address be linked (a
      // regression probe).
      if (identifier.kind === 'EMAIL' && name !== null && showsEmailsLocalPart(name, [identifier.normalised])) return 'displayName';
      // A first phone becomes the customer's `phone`, whose mask shows its last four; another is shown nowhere.
      const becomesShownPhone = customer.masked.PHONE === null;
      if (identifier.kind === 'PHONE' && name !== null && showsPhoneDigits(name, [identifier.normalised], { shownPhone: becomesShownPhone ? identifier.normalised : null })) return 'displayName';
      return null;
    };
    const suspects = identifiers.flatMap((identifier) => {
      const attribute = shown(identifier);
      return attribute === null ? [] : [{ identifier, attribute }];
    });
    if (suspects.length === 0) return;
    const held = new Set(
      (await this.repository.findIdentifiersByHashes(suspects.flatMap((s) => s.identifier.hashes)))
        .filter((record) => record.customerId === customer.id)
        .map((record) => record.hash),
    );
    const refused = suspects.find((s) => !s.identifier.hashes.some((hash) => held.has(hash)));
    if (refused === undefined) return;
    const kind = OWN_IDENTIFIER_NAMES[refused.identifier.kind];
    throw new BadUserInputError(`The customer's ${refused.attribute} shows this ${kind}, which agents would then read in clear; it is not linked`, {
      field: source === 'link' ? 'identifier' : 'identifiers',
    });
  }

  /**
   * One identifier: `{ claimed: hash }` when this call claimed it (pending, for linkMissing to complete or take back),
   * 'changed' when it completed or waited for another call's link (the customer may have changed), false when the
   * customer held it already.
   */
  private async claimOne(
    customer: CustomerRecord,
    identifier: HashedIdentifier,
    actor: Actor,
    channel: Channel | null,
    source: 'registration' | 'link',
  ): Promise<{ claimed: string } | 'changed' | false> {
    const deadline = Date.now() + PENDING_LINK_WAIT_MS;
    let waited = false;
    for (;;) {
      const records = await this.repository.findIdentifiersByHashes(identifier.hashes);
      const existing = records[0];
      if (existing) {
        if (existing.customerId !== customer.id) {
          // Claimed by a registration still settling, which may yet be undone: wait for it (a probe's racing
          // registrations of one person answered CONFLICT here).
          if (Date.now() <= deadline && (await this.isOwnerSettling(existing.customerId))) {
            await sleep(PENDING_LINK_POLL_MS);
            continue;
          }
          const [owner] = await this.repository.findByIds([existing.customerId]);
          await this.auditConflict([{ owner, matched: identifier }], actor, channel, source);
          throw new ConflictError('The identifier belongs to another customer');
        }
        if (!existing.pendingSince) {
          // Known under an older key version: re-filed under the current one, as resolveCustomer does.
          await this.rekey(identifier, records, customer.id);
          return waited ? 'changed' : false;
        }
        // Its link died half-way (the process stopped between the claim and the event): this call completes it.
        if (Date.now() - existing.pendingSince.getTime() >= STALE_PENDING_LINK_MS) {
          await this.completeLink(customer, identifier, existing.hash, actor, channel, false);
          return 'changed';
        }
        if (Date.now() > deadline) throw new ServiceUnavailableError('mongodb', 'The identifier is being linked by another request; try again');
        waited = true;
        await sleep(PENDING_LINK_POLL_MS);
        continue;
      }
      const record: IdentifierRecord = { ...this.toRecord(identifier, customer.id), pendingSince: new Date() };
      const claim = await this.repository.claimIdentifier(record);
      if (!claim.claimed) {
        // Another call of this customer claimed it a moment ago, or another customer did: either is looked at above.
        continue;
      }
      return { claimed: record.hash };
    }
  }

  /**
   * Refuses, before anything is linked, identifiers that would give the customer more than
   * MAX_IDENTIFIERS_PER_CUSTOMER (one query). What it bounds is the size of `Customer.identifiers`, which `_entities`
   * counts at this bound; racing calls that pass it together are held to it by boundVerdict.
   */
  private async refuseBeyondIdentifierBound(customerId: string, identifiers: readonly HashedIdentifier[], source: 'registration' | 'link'): Promise<void> {
    const held = await this.listedIdentifiersOf(customerId);
    const heldHashes = new Set(held.flatMap(hashesOf));
    const adding = identifiers.filter((identifier) => !identifier.hashes.some((hash) => heldHashes.has(hash))).length;
    // Other calls' claims still pending may yet be taken back: boundVerdict weighs them once this call's are in.
    const linked = held.filter((record) => !isFreshClaim(record.pendingSince ?? null)).length;
    if (adding > 0 && linked + adding > MAX_IDENTIFIERS_PER_CUSTOMER) throw tooManyIdentifiers(source);
  }

  /**
   * Whether this call's claims, all in, keep the customer within the bound. Counted after every claim landed, so
   * of racing calls the last to count sees them all (racing links went 17 past the bound before; a regression
   * probe). When only other calls' claims, still pending and so maybe taken back, take it past: 'wait' for the call
   * holding the earliest claim (by time, then hash), which keeps its claims and counts again, and 'back-off' for the
   * others, which take theirs back and claim again once the others' have settled. Counting pending claims as linked,
   * each racer saw the others' and took its own back: six registrations adding two identifiers to a customer of 48
   * were all refused (a regression probe).
   */
  private async boundVerdict(customerId: string, claims: ReadonlyArray<{ hash: string }>): Promise<'fits' | 'over' | 'wait' | 'back-off'> {
    const listed = await this.listedIdentifiersOf(customerId);
    if (listed.length <= MAX_IDENTIFIERS_PER_CUSTOMER) return 'fits';
    const own = new Set(claims.map((claim) => claim.hash));
    const othersPending = listed.filter((record) => !own.has(record.hash) && isFreshClaim(record.pendingSince ?? null));
    if (listed.length - othersPending.length > MAX_IDENTIFIERS_PER_CUSTOMER) return 'over';
    const first = (records: IdentifierRecord[]) => records.reduce<IdentifierRecord | null>((a, b) => (a === null || claimedBefore(b, a) ? b : a), null);
    const [ours, theirs] = [first(listed.filter((record) => own.has(record.hash))), first(othersPending)];
    return ours !== null && theirs !== null && claimedBefore(ours, theirs) ? 'wait' : 'back-off';
  }

  /** Until no other call holds a claim on the customer still pending (they settled or were taken back), or the deadline. */
  private async othersClaimsSettled(customerId: string, deadline: number): Promise<void> {
    while (Date.now() <= deadline && (await this.listedIdentifiersOf(customerId)).some((record) => isFreshClaim(record.pendingSince ?? null))) {
      await sleep(PENDING_LINK_POLL_MS);
    }
  }

  private async listedIdentifiersOf(customerId: string): Promise<IdentifierRecord[]> {
    return listedIdentifiers((await this.repository.findIdentifiersByCustomerIds([customerId]))[0] ?? [], this.keyring.currentVersion);
  }

  /** Whether the customer is one a registration still running created (see isSettling). */
  private async isOwnerSettling(customerId: string): Promise<boolean> {
    const [owner] = await this.repository.findByIds([customerId], { ciphertexts: false });
    return owner !== null && owner !== undefined && isSettling(owner);
  }

  /**
   * Fills the attribute and writes IDENTIFIER_LINKED under the customer's lock, checking first that the customer is
   * still active: an erasure marks the customer under the same lock, so a link either lands before it (and the
   * erasure removes the identifier) or sees the customer erased and is undone. Not linked unless filled and
   * audited: on any failure the identifier is taken back, so repeating the request does the whole link, and a
   * customer erased meanwhile keeps no identifier (which would keep the person from registering again; erasure
   * sweeps the customer's identifiers as well).
   */
  private async completeLink(
    customer: CustomerRecord,
    identifier: HashedIdentifier,
    hash: string,
    actor: Actor,
    channel: Channel | null,
    claimedByThisCall: boolean,
  ): Promise<void> {
    try {
      await this.repository.withCustomerLock(customer.id, async () => {
        const [current] = await this.repository.findByIds([customer.id]);
        if (!current || current.status !== 'ACTIVE') throw new CustomerErasedError();
        // Several calls may complete one stale link at once: the first settles it under the lock, the others find
        // it settled here and write nothing (each used to write its own IDENTIFIER_LINKED).
        const [record] = await this.repository.findIdentifiersByHashes([hash]);
        if (!record || record.customerId !== customer.id) throw new ServiceUnavailableError('mongodb', 'The identifier is being linked by another request; try again');
        if (!record.pendingSince) return;
        await this.fillAttribute(current, identifier);
        await this.audit.append({
          type: 'IDENTIFIER_LINKED',
          customerId: customer.id,
          actor: actorOf(actor),
          channel,
          identifierHash: identifier.hashes[0] ?? null,
          requestId: actor.requestId,
          details: { kind: identifier.kind },
          sealingKey: current.dataKey,
        });
        // Linked and audited. Should this update fail, the record stays pending and a later link of it, once it is
        // stale, fills (a no-op) and audits it again: one IDENTIFIER_LINKED too many, never one missing.
        await this.repository.settleIdentifier(hash, customer.id).catch(() => undefined);
      });
    } catch (error) {
      // Only the call that claimed the identifier takes it back, and only while it is still pending: a call completing
      // a stale link leaves it for the next one, as another call may have completed it meanwhile.
      if (claimedByThisCall) await this.repository.deletePendingIdentifier(hash, customer.id).catch(() => undefined);
      throw error;
    }
  }

  /** A first email or phone linked later becomes the customer's contact attribute. Runs holding the customer's lock. */
  private async fillAttribute(customer: CustomerRecord, identifier: HashedIdentifier): Promise<void> {
    const field: PiiField | null = identifier.kind === 'EMAIL' ? 'EMAIL' : identifier.kind === 'PHONE' ? 'PHONE' : null;
    if (field === null || ciphertextsOf(customer)[field] || !customer.dataKey) return;
    const dataKey = this.envelope.unwrapDataKey(customer.id, customer.dataKey);
    let encrypted: EncryptedValue;
    try {
      encrypted = this.envelope.encryptField(dataKey, customer.id, field, identifier.normalised);
    } finally {
      dataKey.fill(0);
    }
    const masked = field === 'EMAIL' ? maskEmail(identifier.normalised) : maskPhone(identifier.normalised);
    await this.repository.setAttributeIfAbsentLocked(customer.id, field, encrypted, masked);
  }
}

export function actorOf(actor: Actor): { kind: 'AGENT' | 'SERVICE'; id: string } {
  return { kind: actor.caller.kind, id: actor.caller.id };
}

/** `field`: the argument as the caller wrote it (`customer(id:)` says `id`). */
export function assertCustomerId(id: unknown, field = 'customerId'): asserts id is string {
  if (!isCustomerId(id)) throw new BadUserInputError(`${field} must be a customer id (cus_ followed by 26 characters)`, { field });
}

function validateAttributes(input: RegisterInput): { displayName: string | null; country: string | null; preferredLanguage: string | null } {
  let displayName: string | null = null;
  if (input.displayName != null) {
    displayName = input.displayName.normalize('NFC').replace(/\s+/g, ' ').trim();
    // Bidirectional controls too: the mask would show `\u202eeoD e.` to every agent.
    if (displayName.length === 0 || displayName.length > MAX_DISPLAY_NAME_LENGTH || hasControlCharacters(displayName) || !showsSomething(displayName)) {
      throw new BadUserInputError(`displayName must be 1-${MAX_DISPLAY_NAME_LENGTH} printable characters`, { field: 'displayName' });
    }
    // The masked name keeps the first word in clear: an address or number there would reach every agent.
    if (containsIdentifier(displayName)) {
      throw new BadUserInputError('displayName must not contain an email address or phone number', { field: 'displayName' });
    }
  }
  let country: string | null = null;
  if (input.country != null) {
    // ASCII letters before upper-casing: `ß` upper-cases to `SS`.
    country = input.country.trim();
    if (!/^[A-Za-z]{2}$/.test(country) || !COUNTRY_CODES.has((country = country.toUpperCase()))) {
      throw new BadUserInputError('country must be an ISO 3166-1 alpha-2 code such as GB', { field: 'country' });
    }
  }
  let preferredLanguage: string | null = null;
  if (input.preferredLanguage != null) {
    // Language, script, region and variants of letters: any subtags of up to eight letters or digits let a phone
    // number (`en-4477-0095-5409`) or a CRM id (`en-CRM-BMQ0E0`) be stored and shown in clear (a probe).
    const tag = input.preferredLanguage.trim();
    const refuse = () => new BadUserInputError('preferredLanguage must be a BCP 47 language tag such as en-GB (language, script, region, variants)', { field: 'preferredLanguage' });
    if (!LANGUAGE_TAG.test(tag)) throw refuse();
    try {
      preferredLanguage = Intl.getCanonicalLocales(tag)[0] ?? tag;
      // Its region as `country` takes it (`en-ZZ` passed while country `ZZ` was refused; a probe).
      const region = new Intl.Locale(preferredLanguage).region;
      if (region !== undefined && /^[A-Z]{2}$/.test(region) && !COUNTRY_CODES.has(region)) throw refuse();
    } catch {
      // A variant given twice (`en-oxendict-oxendict`) is no tag: a RangeError was an INTERNAL_SERVER_ERROR (a probe).
      throw refuse();
    }
  }
  return { displayName, country, preferredLanguage };
}

/** A BCP 47 tag of language, script, region (letters, or the three digits of a UN M.49 area) and variants of letters. */
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?(?:-[A-Za-z]{5,8})*$/;

function validateInteractionId(value: string | null | undefined): string | null {
  if (value == null) return null;
  if (value.length === 0 || value.length > MAX_INTERACTION_ID_LENGTH || !/^[A-Za-z0-9._:-]+$/.test(value)) {
    throw new BadUserInputError(`interactionId must be 1-${MAX_INTERACTION_ID_LENGTH} characters of letters, digits, . _ : -`, { field: 'interactionId' });
  }
  // The audit trail keeps it after an erasure: a phone number there would outlive the person's right to be forgotten.
  if (!isSafeReference(value)) {
    throw new BadUserInputError('interactionId must not look like a phone number or email address (a call UUID or the channel\'s own id is)', { field: 'interactionId' });
  }
  return value;
}

/**
 * CUSTOMER_REGISTERED: the first identifier's hash is the event's (sealed under the customer's key); the kinds say
 * what came with it.
 */
function registeredEvent(
  customerId: string,
  actor: Actor,
  channel: Channel | null,
  primary: HashedIdentifier,
  identifiers: ReadonlyArray<{ kind: IdentifierKind }>,
  sealingKey: WrappedDataKey | null,
): AuditEventInput {
  return {
    type: 'CUSTOMER_REGISTERED',
    customerId,
    actor: actorOf(actor),
    channel,
    identifierHash: primary.hashes[0] ?? null,
    requestId: actor.requestId,
    details: { identifierCount: identifiers.length, kind: primary.kind, kinds: identifiers.map((i) => i.kind).join(' ') },
    sealingKey,
  };
}

/**
 * What in a text could be a CRM id (its characters: letters, digits, . _ : -), the text read through escapes and
 * look-alikes (`folded` by `foldForMatching`), as written and in either case: every word, and every run of its pieces between punctuation
 * (so `CRM-000001.pdf`, `ref:CRM-000001.` and `CRM-000001_notes` give `CRM-000001`). Forms under four characters
 * are left out: a CRM id as short as `1` or `A7` would refuse every ticket numbered 1, and screening such an id in
 * free text cannot work anyway. A CRM id run into other letters (`xCRM-000001`) is not found.
 */
function crmIdCandidates(folded: string): Set<string> {
  const candidates = new Set<string>();
  const add = (form: string) => {
    if (form.length < MIN_SCREENED_CRM_ID_LENGTH || form.length > 128) return;
    candidates.add(form).add(form.toUpperCase()).add(form.toLowerCase());
  };
  for (const word of folded.match(/[A-Za-z0-9._:-]+/g) ?? []) {
    add(word);
    const pieces = word.split(/([._:-])/);
    // pieces: text, separator, text, ...; runs of whole pieces, at most MAX_PIECES of them from each start.
    for (let start = 0; start < pieces.length; start += 2) {
      let run = '';
      for (let end = start; end < pieces.length && end - start < MAX_PIECES * 2; end += 2) {
        run += (end > start ? (pieces[end - 1] ?? '') : '') + (pieces[end] ?? '');
        add(run);
        // With its separators written as another one throughout: an operation name can only write `_`, so
        // `CRM_LEAKCHK_7731` for CRM-LEAKCHK-7731 was logged (a probe). Runs of up to four pieces from every start, in
        // upper and lower case (a cap on these forms in all let a few leading words use it up: a regression probe).
        // Ids that mix separators are not tried so.
        if (end > start && end - start < SEPARATOR_VARIANT_PIECES * 2) {
          for (const separator of CRM_ID_SEPARATORS) {
            const variant = run.replace(/[._:-]/g, separator);
            if (variant === run || variant.length < MIN_SCREENED_CRM_ID_LENGTH) continue;
            candidates.add(variant.toUpperCase()).add(variant.toLowerCase());
          }
        }
      }
    }
  }
  return candidates;
}

/**
 * What in a text (`folded` by `foldForMatching`) could be an email address with its `@` written as another character
 * (a probe stored `probe.16.abe03744.example.com` as a ticket id beside probe.16.abe03744@example.com): in each word
 * (letters, digits and `. _ % + ' # -`), every run of up to MAX_PIECES pieces as a local part, followed after one
 * separator by a run of up to MAX_PIECES more pieces, ending in a piece of letters (a top-level domain), as its domain;
 * a word that uses one separator throughout is also read with dots for it (an address slugified into an id,
 * `jane_doe7_example_com`). Each form normalised as an EMAIL identifier is (invalid ones dropped). The customer's
 * shown email is also compared by its letters and digits (emailSkeletons), which covers its local part alone and any
 * separators; this covers the emails known by hash only.
 */
function emailCandidates(folded: string): Set<string> {
  const candidates = new Set<string>();
  // Each form normalised once: repeated pieces give the same form many times over (`at-at-at-...`, 64 characters as an
  // x-request-id, normalised 1,440 forms in 19 ms for 30 distinct ones; a regression probe).
  const tried = new Set<string>();
  const add = (address: string, tagLength?: number) => {
    if (tried.has(address)) return;
    tried.add(address);
    let normalised: string;
    try {
      normalised = normaliseIdentifier('EMAIL', address);
    } catch {
      // Not an address: nothing to look for.
      return;
    }
    candidates.add(normalised);
    // A plus tag with its `+` written as another separator, as an x-request-id or an operation name (neither may hold
    // a `+`) must write it: `zq.leakcheck.tag.example.org` for zq.leakcheck+tag@example.org was logged and kept in
    // audit events (a probe). The tag is the local part's last piece; the form is derived from the normalised address
    // rather than normalised again.
    if (tagLength === undefined) return;
    const at = normalised.lastIndexOf('@');
    const separator = at - tagLength - 1;
    if (separator > 0 && /^[._%'#-]$/.test(normalised[separator] ?? '') && !normalised.slice(0, at).includes('+')) {
      candidates.add(`${normalised.slice(0, separator)}+${normalised.slice(separator + 1)}`);
    }
  };
  for (const word of folded.match(/[\p{L}\p{N}._%+'#-]+/gu) ?? []) {
    if (word.length > 254) continue;
    const pieces = word.split(/([._%+'#-])/);
    emailFormsOfWord(pieces, add);
    const separators = new Set(pieces.filter((_piece, i) => i % 2 === 1));
    const dotted = separators.size === 1 && !separators.has('.') ? pieces.map((piece, i) => (i % 2 === 1 ? '.' : piece)) : null;
    if (dotted) emailFormsOfWord(dotted, add);
    // `at` for the `@`, as slugs spell it (`jane-doe7-at-example-com`; a regression probe): the pieces around it.
    for (const form of dotted ? [pieces, dotted] : [pieces]) {
      for (let at = 2; at < form.length - 2; at += 2) {
        if (form[at]?.toLowerCase() === 'at') emailFormsOfWord([...form.slice(0, at - 1), '@', ...form.slice(at + 2)], add, at - 1);
      }
    }
  }
  return candidates;
}

/**
 * emailCandidates for one word split into pieces (text, separator, text, ...); with `atSeparator`, only forms whose
 * local part ends just before the separator at that index (the `@` of an `at` that stood there).
 */
function emailFormsOfWord(pieces: readonly string[], add: (address: string, tagLength?: number) => void, atSeparator?: number): void {
  // With `atSeparator`, only the starts whose local part can end there (at most MAX_PIECES pieces before it).
  const [first, past] = atSeparator === undefined ? [0, pieces.length] : [Math.max(0, atSeparator - 1 - (MAX_PIECES - 1) * 2), atSeparator];
  for (let start = first; start < past; start += 2) {
    let local = '';
    for (let end = start; end < pieces.length && end - start < MAX_PIECES * 2; end += 2) {
      // Read with a plus tag too, for the first PLUS_TAG_FORMS domains of each local part: every form doubled the
      // screen's CPU for a hostile request id, and a cap on them in all, then from each start, let a few leading or
      // trailing words use it up (regression probes).
      let plusForms = 0;
      local += (end > start ? (pieces[end - 1] ?? '') : '') + (pieces[end] ?? '');
      if (local === '' || (atSeparator !== undefined && end + 1 !== atSeparator)) continue;
      let domain = '';
      for (let last = end + 2; last < pieces.length && last - end <= MAX_PIECES * 2; last += 2) {
        domain += (last > end + 2 ? (pieces[last - 1] ?? '') : '') + (pieces[last] ?? '');
        // Read with a plus tag too when the local part has more than one piece (see emailCandidates).
        if (last > end + 2 && TOP_LEVEL_LABEL.test(pieces[last] ?? '')) {
          const tagged = end > start && plusForms < PLUS_TAG_FORMS;
          if (tagged) plusForms += 1;
          add(`${local}@${domain}`, tagged ? (pieces[end] ?? '').length : undefined);
        }
      }
    }
  }
}

/** What can end a domain: letters (a top-level domain), checked before a form is normalised. */
const TOP_LEVEL_LABEL = /^\p{L}{2,63}$/u;

/** A customer's CRM-id skeletons as spellsCrmSkeleton looks for them: their hashes, and the key versions of each length. */
interface SkeletonIndex {
  wanted: ReadonlySet<string>;
  versionsOf: ReadonlyMap<number, ReadonlySet<string>>;
  longest: number;
}

/** Built once per customer of a screen; null when none is long enough to look for (MIN_SKELETON_LENGTH). */
function skeletonIndexOf(skeletons: ReadonlyArray<{ hash: string; length: number }>): SkeletonIndex | null {
  const screened = skeletons.filter((skeleton) => skeleton.length >= MIN_SKELETON_LENGTH);
  if (screened.length === 0) return null;
  const versionsOf = new Map<number, Set<string>>();
  for (const { hash, length } of screened) versionsOf.set(length, (versionsOf.get(length) ?? new Set()).add(HmacKeyring.versionOf(hash)));
  return { wanted: new Set(screened.map((skeleton) => skeleton.hash)), versionsOf, longest: Math.max(...versionsOf.keys()) };
}

/** Runs of digits with only the separators people type between them (space . , - _ / : ( )): where a number can be. */
function digitRunsOf(text: string): string[] {
  return text.match(/\d+(?:[\s.,_/():-]+\d+)*/g) ?? [];
}

/**
 * What in a text (`folded` by `foldForMatching`) could be a phone number in E.164, with a `+` before it (`00`
 * taken for one): in every run of digits and separators between them (space . , - _ / : ( ), any number of them),
 * the separators dropped, every 7 to 15 digits that start or end where a piece of the run does. So `tel:447700900411`,
 * `wa447700900411`, `sms-44 7700 900411`, `0044-7700-900411`, `44:7700:900411`, `1-447700900411`,
 * `4,477,009,004.11` and `tel:44----7700900411` all give `+447700900411` (the last four got past earlier versions;
 * probes). A national trunk `0` written after a country calling code (`+44 (0)7700 900411`, `4407700900411`) is read
 * without it. Digits run into more digits on both sides are not found. A number written in national form alone
 * (`07700 900411`) is not found either: which country it is in is not known here. A few dozen forms per piece at most.
 */
function phoneCandidates(folded: string): Set<string> {
  const candidates = new Set<string>();
  const addE164 = (digits: string) => {
    if (digits.length < 7) return;
    candidates.add(`+${digits}`);
    for (let codeLength = 1; codeLength <= 3; codeLength++) {
      if (digits[codeLength] === '0' && GEOGRAPHIC_CALLING_CODES.has(digits.slice(0, codeLength)) && digits.length - 1 >= 7) {
        candidates.add(`+${digits.slice(0, codeLength)}${digits.slice(codeLength + 1)}`);
      }
    }
  };
  const add = (form: string) => {
    addE164(form);
    if (form.startsWith('00') && form.length >= 9) addE164(form.slice(2));
  };
  for (const run of digitRunsOf(folded)) {
    const pieces = run.split(/\D+/);
    const digits = pieces.join('');
    let boundary = 0;
    for (const piece of ['', ...pieces]) {
      boundary += piece.length;
      // Up to 16 digits: one more than E.164 allows, for the trunk 0 that is read away.
      for (let length = 7; length <= 16; length++) {
        if (boundary + length <= digits.length) add(digits.slice(boundary, boundary + length));
        if (boundary - length >= 0) add(digits.slice(boundary - length, boundary));
      }
    }
  }
  return candidates;
}

/**
 * Every 7 to 15 digits in a row within a run of digits and separators (separators dropped), wherever they start, as
 * E.164: for ids short enough to read so (an `x-request-id`, an operation name; a 64-digit run gives 531 forms).
 * phoneCandidates reads only digits that start or end where a piece does, so a stored number inside a UUID's digit
 * groups (`11442079-4288-4511-…`) was logged and kept in audit events (a regression probe).
 */
function phoneDigitsAnywhere(folded: string): Set<string> {
  const forms = new Set<string>();
  for (const run of digitRunsOf(folded)) {
    const digits = run.replace(/\D/g, '');
    for (let start = 0; start + 7 <= digits.length; start++) {
      for (let length = 7; length <= 15 && start + length <= digits.length; length++) forms.add(`+${digits.slice(start, start + length)}`);
    }
  }
  return forms;
}

/**
 * Whether text (`folded` by `foldForMatching`) holds a phone number's digits, whatever stands between them (`callback
 * 442079 then 480230`), dates, times and amounts aside (maskDatesTimesAmounts): all of them, or its national number
 * when that has NATIONAL_DIGITS_ANYWHERE or more. A shorter national number (Denmark's 8 digits, Iceland's 7) is
 * looked for within one run of digits and separators only: joined across words, `Refund of 20.26 for tickets 12 and
 * 01` spelled +45 20261201 (a regression probe).
 */
function holdsPhoneDigits(folded: string, phone: { international: string; national: string }): boolean {
  const text = maskDatesTimesAmounts(asciiDigits(folded));
  const joined = text.replace(/\D/g, '');
  if (joined.includes(phone.international)) return true;
  if (phone.national.length < 7) return false;
  if (phone.national.length >= NATIONAL_DIGITS_ANYWHERE) return joined.includes(phone.national);
  return digitRunsOf(text).some((run) => run.replace(/\D/g, '').includes(phone.national));
}
const NATIONAL_DIGITS_ANYWHERE = 9;

/**
 * Phone-number forms one screen hashes at most (all the texts of a push together): about 0.1 s of HMACs. A push of
 * text made of thousands of short digit runs is refused rather than screened for seconds.
 */
const MAX_SCREENED_PHONE_FORMS = 50_000;
/** The same for email forms (emailCandidates). */
const MAX_SCREENED_EMAIL_FORMS = 50_000;
/** The same for CRM-id skeleton runs (spellsCrmSkeleton). */
const MAX_SCREENED_SKELETON_FORMS = 50_000;
/**
 * The fewest letters and digits a CRM id's skeleton is looked for with, across words: shorter ones are ordinary
 * text (`AB 12`, `98 76 items`, `45.00` for AB-12, 9876, 4500; a regression probe). Such ids are looked for in
 * their own forms only (crmIdCandidates).
 */
const MIN_SKELETON_LENGTH = 6;

/** A display name's words run together are looked for from this many letters (`annlee` could be a word). */
const MIN_NAME_RUN_TOGETHER = 8;

/** The path under which refuseOwnIdentifiers screens the caller's x-request-id (no argument has it). */
const REQUEST_ID_PATH = 'x-request-id';

/** Texts about one customer to screen for its own identifiers: [path of the field, text]. */
export interface OwnIdentifierScreen {
  customerId: string;
  texts: ReadonlyArray<readonly [string, string]>;
  /**
   * Screened for the customer's full display name as well: an erasure's reason and reference, kept in its event for
   * good, whose caller (`dsar:process`) reads the name in the export anyway. Not a consent's source or a grant's
   * justification: there the refusal told a caller who may not read the name whether a guess at it was right (a
   * probe confirmed "Jane Dawson" behind the masked "Jane D.", unaudited).
   */
  screensName?: boolean;
}

const OWN_IDENTIFIER_NAMES: Record<IdentifierKind | 'NAME' | 'HASH', string> = {
  EMAIL: 'email address',
  PHONE: 'phone number',
  CRM_ID: 'CRM id',
  NAME: 'name',
  HASH: 'identifier hash',
};

/** A customer's hash digest as holdsDigest compares it: itself, its letters and digits (in lower case), and its bytes in hex. */
interface DigestForms {
  digest: string;
  alphanumeric: string;
  hex: string;
}

/** The digests (after `<keyVersion>:`) of every hash these records stand for: current, prior and CRM-id skeletons. */
function hashDigestsOf(records: readonly IdentifierRecord[]): DigestForms[] {
  const hashes = records.flatMap((record) => [...hashesOf(record), ...(record.skeleton ? [record.skeleton.hash] : [])]);
  const digests = new Set(hashes.map((hash) => hash.slice(hash.indexOf(':') + 1)).filter((digest) => digest.length >= HASH_DIGEST_LENGTH));
  return [...digests].map((digest) => ({ digest, alphanumeric: digest.replace(/[^A-Za-z0-9]/g, '').toLowerCase(), hex: Buffer.from(digest, 'base64url').toString('hex') }));
}

/** A keyed hash's digest: 32 bytes in base64url, unpadded. */
const HASH_DIGEST_LENGTH = 43;

/**
 * Whether the text holds one of these digests: its letters and digits in a row, in any case, whatever stands between
 * them (`v1:<d>`, `ref-<d>-x`, the standard alphabet, in chunks split by spaces, dots, dashes or underscores: a
 * regression probe's `<d1>-<d2>` and `<d1>.<d2>` passed a check of 43 characters in a row), its bytes in hex the same
 * way (any case, `ab:cd:…`), or a token that is base64 of `<version>:<digest>`; read as the identifier screens read text
 * (`folded`: foldForMatching's, NFKC: fullwidth and mathematical letters are letters). 256 bits: nothing else spells one, in one case or the other.
 * The digest with its `-` and `_` taken out, alone, is shorter than a digest: a text that short was passed over, and a
 * probe's erasure kept one as its `requestId`.
 */
function holdsDigest(text: string, folded: string, digests: readonly DigestForms[]): boolean {
  if (digests.length === 0) return false;
  const lower = folded.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
  if (lower.length < Math.min(...digests.map((forms) => forms.alphanumeric.length))) return false;
  if (digests.some((forms) => lower.includes(forms.alphanumeric) || lower.includes(forms.hex))) return true;
  const encoded = new Set([...encodedHashDigestsIn(text), ...(folded === text ? [] : encodedHashDigestsIn(folded))]);
  return digests.some((forms) => encoded.has(forms.digest));
}

/** Digests in tokens that are, whole, base64 or base64url of `<version>:<digest>`. */
function* encodedHashDigestsIn(text: string): Generator<string> {
  for (const [run] of text.matchAll(/[A-Za-z0-9_+/-]{60,}/g)) {
    const decoded = Buffer.from(run.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url').toString('latin1');
    for (const [, digest] of decoded.matchAll(/[A-Za-z0-9]{1,16}:([A-Za-z0-9_-]{43})/g)) yield digest as string;
  }
}

/** How many forms digestsIn gives one text at most (an id of 64 characters gives a few hundred). */
const MAX_DIGEST_FORMS = 5_000;

/**
 * Every 32-byte digest a short text (a request id, an operation name) could hold, as base64url, for a store-wide
 * lookup (the digest is not in hand, as it is in holdsDigest): what holdsDigest finds, as far as it can be undone.
 * Characters no base64url digest has (`.`, `:`, white space) are taken out and the standard alphabet read as base64url;
 * then every 43 characters in a row, and every 43 to 47 with as many of their `-` and `_` taken out (a digest split by
 * them); every 64 hex digits in a row, separators taken out; and tokens that are base64 of a hash.
 */
function digestsIn(text: string): Set<string> {
  const found = new Set<string>();
  if (text.length < HASH_DIGEST_LENGTH) return found;
  const url = text.replace(/\+/g, '-').replace(/\//g, '_').replace(/[^A-Za-z0-9_-]/g, '');
  for (const [run] of url.matchAll(/[A-Za-z0-9_-]{43,}/g)) {
    for (let length = HASH_DIGEST_LENGTH; length <= HASH_DIGEST_LENGTH + 4; length++) {
      for (let start = 0; start + length <= run.length && found.size < MAX_DIGEST_FORMS; start++) {
        const window = run.slice(start, start + length);
        for (const digest of withoutSeparators(window, length - HASH_DIGEST_LENGTH)) found.add(digest);
      }
    }
  }
  const hex = text.replace(/[^0-9A-Fa-f]/g, '');
  for (let start = 0; start + 64 <= hex.length && found.size < MAX_DIGEST_FORMS; start++) found.add(Buffer.from(hex.slice(start, start + 64), 'hex').toString('base64url'));
  for (const digest of encodedHashDigestsIn(text)) found.add(digest);
  return found;
}

/**
 * Whether a short text (a request id, an operation name) holds what may be a hash digest written without its `-` and
 * `_`, or with `.` for them, or in one case: 36 letters and digits in a row, separators aside, that read as random
 * base64 and are not all hex digits (hex is looked up exactly: digestsIn). Random base64 changes kind (small, capital,
 * digit) about 22 times in 36 characters, words in camel case about 9: 14 or more is taken as random. In one case, where
 * only letters and digits alternate (about 9.5 times in random text), 2 digits and 4 changes or more. Such a digest cannot
 * be looked up (three in four digests hold one of those characters, where it stood is not known, and hashes are of the
 * case as it is), so the text is taken as naming someone: a random token used as a request id is replaced too.
 * Regression probes' request ids and operation names of these forms were logged and kept in audit events; a window of
 * 40 missed the one digest in twenty that holds four separators or more.
 */
export function mayHoldBareDigest(text: string): boolean {
  const runs = foldForMatching(text).replace(/[._-]/g, '').match(/[A-Za-z0-9]{36,}/g) ?? [];
  return runs.some((run) => {
    const kinds = [...run].map((c) => (c >= 'a' && c <= 'z' ? 0 : c >= 'A' && c <= 'Z' ? 1 : 2));
    for (let start = 0; start + BARE_DIGEST_WINDOW <= run.length; start++) {
      const window = run.slice(start, start + BARE_DIGEST_WINDOW);
      if (/^[0-9A-Fa-f]+$/.test(window)) continue;
      const oneCase = !/[a-z]/.test(window) || !/[A-Z]/.test(window);
      let changes = 0;
      let unworded = 0;
      let digits = kinds[start] === 2 ? 1 : 0;
      for (let i = start + 1; i < start + BARE_DIGEST_WINDOW; i++) {
        const [before, after] = [kinds[i - 1], kinds[i]];
        if (after === 2) digits += 1;
        if (after !== before) changes += 1;
        // Pairs words in camel case seldom make: two capitals, or a digit beside anything.
        if (!(after === 0 || (before === 0 && after === 1))) unworded += 1;
      }
      if (oneCase ? digits >= 2 && changes >= 4 : changes >= BARE_DIGEST_MIN_CHANGES && unworded >= BARE_DIGEST_MIN_UNWORDED) return true;
    }
    return false;
  });
}
/** The shortest a digest is with its `-` and `_` taken out, but for about one in ten thousand (43 characters less seven). */
const BARE_DIGEST_WINDOW = 36;
const BARE_DIGEST_MIN_CHANGES = 14;
const BARE_DIGEST_MIN_UNWORDED = 7;

/** `window` with `count` of its `-` and `_` taken out, every way (none when it has fewer). */
function withoutSeparators(window: string, count: number): string[] {
  if (count === 0) return [window];
  const positions = [...window].flatMap((char, i) => (char === '-' || char === '_' ? [i] : []));
  // A digest holds one or two of them; a window of many is no split digest, and would give thousands of forms.
  if (positions.length > count + 4) return [];
  const forms: string[] = [];
  const pick = (from: number, chosen: number[]) => {
    if (chosen.length === count) {
      forms.push([...window].filter((_char, i) => !chosen.includes(i)).join(''));
      return;
    }
    for (let i = from; i < positions.length; i++) pick(i + 1, [...chosen, positions[i] as number]);
  };
  pick(0, []);
  return forms;
}

/** The words of a name or a text as the name screen compares them: folded as the identifier screens fold, accents dropped, lower-case. */
function wordsOf(text: string): string[] {
  return foldForMatching(text).normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Whether the text names the identifier, read as the screens read text (findOwnIdentifierIn, namesAnIdentifier). */
function namesIdentifier(text: string, identifier: ReadIdentifier): boolean {
  if (identifier.kind === 'CRM_ID') return namesAnyCrmId(text, [identifier.normalised]);
  if (identifier.kind === 'PHONE') {
    const folded = foldForMatching(text);
    // Its digits anywhere in a run too (phoneDigitsAnywhere): the number is in hand, so a look for it in each run.
    return phoneCandidates(folded).has(identifier.normalised) || digitRunsOf(folded).some((run) => run.replace(/\D/g, '').includes(identifier.normalised.slice(1)));
  }
  // The address being resolved, registered or linked, as the customer's shown one is looked for (findOwnIdentifierIn):
  // slugified (`jane.doe7.example.org`), with `at` for its `@`, its local part alone when that holds a digit; it was
  // looked for only once stored, so an unmatched lookup kept it in its interaction id and request id (a probe).
  // Words run together in camel case are words too (`ResolveKw5leak_doe_example_org`, an operation name a probe sent).
  // The address is in hand, so its letters are looked for, not every address the text could spell (emailCandidates
  // took 65 ms on a 128-character `at-at-...` interaction id, 30 aliases of which blocked the process for 1.8 s).
  const skeletons = emailSkeletons(identifier.normalised);
  const camel = text.replace(/(\p{Ll})(\p{Lu})/gu, '$1_$2');
  return spellsEmail(text, skeletons) || (camel !== text && spellsEmail(camel, skeletons));
}

/** What of an address spellsEmail looks for: in whole words in a row anywhere, and within one token between spaces. */
interface EmailSkeletons {
  whole: readonly string[];
  withinToken: readonly string[];
}

/** Whether text spells an address by the skeletons emailSkeletons gives. */
function spellsEmail(text: string, shown: EmailSkeletons): boolean {
  const words = skeletonWordsOf(text);
  if (shown.whole.some((skeleton) => spellsInWholeWords(words, skeleton))) return true;
  if (shown.withinToken.length === 0) return false;
  const tokens = text.split(/\s+/u).map((token) => skeletonWordsOf(token));
  return shown.withinToken.some((skeleton) => tokens.some((tokenWords) => spellsInWholeWords(tokenWords, skeleton)));
}

/** Replaces the caller's x-request-id (see withdrawRequestId) when it names one of the identifiers the request holds. */
function withdrawRequestIdNaming(identifiers: readonly ReadIdentifier[]): void {
  // Read as it is and, when it is base64 or hex of text, as that text (decodedTextsOf): the base64 of the address
  // being registered was kept as the request id of its CUSTOMER_REGISTERED (a probe).
  const names = (text: string) => [text, ...decodedTextsOf(text)].some((form) => identifiers.some((identifier) => namesIdentifier(form, identifier)));
  noteHeldIdentifiers(names);
  const requestId = callerRequestId();
  if (requestId !== null && names(requestId)) withdrawRequestId();
}

/**
 * Whether the two masks together give back an email registered with the display name: the masked email shows the
 * local part's first character, the masked name its first word in clear. A local part with a digit is no name
 * (`zara.quill54403dx`); one is refused when what the name's mask shows, read without case, look-alikes, characters
 * that show nothing or any separators, holds its letters and digits, all of them or all but the first or last
 * character (or those of the mailbox before a `+tag`), where what the masks show together (with the first character
 * that the masked email shows) includes a digit. A probe registered `zara.quill54403dx@example Smith` beside
 * zara.quill54403dx@example.com; regression rounds got past earlier checks with a combining accent, a C1 control or a
 * Braille blank inside, the local part less its last character, `.b12` beside `a.b12@`, and a dash every two
 * characters, while refusing real names (`Mary-Jane Watson` beside `mary.jane@`, `Jane Doe` beside `jane1@`).
 * A local part of letters only is taken for a name, which the contract's masks show by design; a deliberate encoding
 * (reversed, base64) is not looked for.
 */
export function namesAnEmailsLocalPart(displayName: string, emails: readonly string[]): boolean {
  return showsEmailsLocalPart(maskDisplayName(displayName) ?? '', emails);
}

/**
 * For a mask about to replace another (masks:rewrite): whether what it shows is an identifier the customer holds, which
 * a link made under the old mask was checked against that mask only (a regression probe: `Smith, ACME-R5HVK3`, stored
 * as `Smith, A.` by an earlier rule, linked to ACME-R5HVK3, then rewritten to `ACME-R5HVK3 S.`). CRM ids are held as
 * hashes only: the words the mask shows, runs of up to six of them joined as written or by one separator each, as
 * written, upper-cased and lower-cased, are hashed and compared (separators mixed within one id, and an id in mixed
 * case that the name writes in another case, are not tried: every mix of cases is too many hashes). An email other than the one the
 * customer's `email` attribute holds is known by hash only, and its local part cannot be formed from a name: a mask
 * that shows a digit beside one is taken as showing it (a local part of letters alone reads as a name, as at
 * registration). `attributes` are the clear email and phone attributes (namesAnEmailsLocalPart and showsPhoneDigits).
 */
export function maskShowsHeldIdentifier(
  maskedName: string,
  held: readonly IdentifierRecord[],
  keyring: HmacKeyring,
  attributes: { email: string | null; phone: string | null },
): boolean {
  const crmHashes = new Set(held.filter((record) => record.kind === 'CRM_ID').flatMap((record) => [record.hash, ...(record.priorHashes ?? [])]));
  if (crmHashes.size > 0) {
    const forms = crmIdCandidates(foldForMatching(maskedName));
    // Read as the link screen reads it (skeletonWordsOf): digits of any script as ASCII, accents dropped (`Acme٧q`,
    // `Ácme7q` showed ACME7Q; a regression probe).
    const words = skeletonWordsOf(maskedName, { keepCase: true }).filter((word) => /^[A-Za-z0-9]+$/.test(word));
    for (let start = 0; start < words.length; start++) {
      for (let end = start + 1; end <= Math.min(words.length, start + MAX_PIECES); end++) {
        for (const separator of ['', '-', '_', '.', ':', ' ']) {
          const form = words.slice(start, end).join(separator);
          if (form.length >= MIN_SCREENED_CRM_ID_LENGTH && form.length <= 128) forms.add(form).add(form.toUpperCase()).add(form.toLowerCase());
        }
      }
    }
    if ([...forms].some((form) => keyring.hashAll('CRM_ID', form).some((hash) => crmHashes.has(hash)))) return true;
  }
  if (attributes.phone !== null && showsPhoneDigits(maskedName, [attributes.phone], { shownPhone: attributes.phone })) return true;
  // Emails and phones other than the attributes, held by hash only: a mask that shows a digit (four in a row for a
  // phone) beside one is taken as showing it.
  const others = (kind: IdentifierKind, attribute: string | null) => {
    const known = new Set(attribute === null ? [] : keyring.hashAll(kind, attribute));
    return held.filter((record) => record.kind === kind && !known.has(record.hash) && !(record.priorHashes ?? []).some((hash) => known.has(hash))).length;
  };
  if (others('PHONE', attributes.phone) > 0 && digitsShownIn(maskedName).length >= PHONE_DIGITS_SHOWN) return true;
  return others('EMAIL', attributes.email) > 0 && /\p{N}/u.test(maskedName);
}

/**
 * Whether a masked name shows four digits in a row of one of these phone numbers (E.164) past its country code: the
 * digits the mask shows, read together whatever letters or separators stand between them, any four in a row of them.
 * Beside the masked phone's last four, `447700 S.` gave 10 of +447700900123's 12 digits; runs compared whole missed
 * `447x700x900 S.` (all of it), `077009 S.` (the national form) and `47700 1.` (a regression probe). The country code
 * is left out: `1800Contacts` beside +1 800 266 7250 shows only the code and the toll-free prefix. A name's shape
 * check refuses seven digits or more; this one knows the number.
 */
function showsPhoneDigits(maskedName: string, phones: readonly string[], { shownPhone = null }: { shownPhone?: string | null } = {}): boolean {
  const shown = digitsShownIn(maskedName);
  if (shown.length < PHONE_DIGITS_SHOWN) return false;
  return phones.some((phone) => {
    // Where four of them in a row stand in the number but as its last four, for the number the masked `phone` shows
    // (`shownPhone`), which shows them anyway: `Studio2024 L.` beside `+*******2024` tells nothing more (a regression
    // probe). Another number's last four are shown nowhere else (`Studio0456 L.` beside a second number; the next one).
    const { national } = phoneDigitsOf(phone);
    const hiddenPart = phone === shownPhone ? national.slice(0, -1) : national;
    for (let start = 0; start + PHONE_DIGITS_SHOWN <= shown.length; start++) {
      if (hiddenPart.includes(shown.slice(start, start + PHONE_DIGITS_SHOWN))) return true;
    }
    return false;
  });
}

const PHONE_DIGITS_SHOWN = 4;

/** The digits a masked name shows, read together (skeletonOf has them as ASCII already), whatever stands between them. */
function digitsShownIn(maskedName: string): string {
  return skeletonOf(maskedName).replace(/\D/g, '');
}

/** namesAnEmailsLocalPart of what a masked name shows (`maskedName`, as stored). */
function showsEmailsLocalPart(maskedName: string, emails: readonly string[]): boolean {
  const shown = skeletonOf(maskedName);
  const shownWords = skeletonWordsOf(maskedName);
  return emails.some((email) => {
    const localPart = email.slice(0, email.lastIndexOf('@'));
    return [localPart, localPart.split('+', 1)[0] ?? ''].some((part) => {
      const letters = [...skeletonOf(part)];
      const first = letters[0] ?? '';
      // Each form with what the two masks then show together: the masked email adds the first character.
      const forms: Array<[string[], string]> = [
        [letters, ''],
        [letters.slice(1), first],
        [letters.slice(0, -1), ''],
        [letters.slice(1, -1), first],
      ];
      // Only what shows a digit counts (`Jane Doe` beside `jane1@` shows `jane` and hides the digit): a name has no
      // digit, so no name is refused for its own letters. A digit only the masked email shows counts when the name
      // shows the rest as whole words (`Max R.` beside `1***@` gives back 1max@, as `Zaraquilldx S.` gives back
      // 5zaraquilldx@; regression probes), not inside another word (`Susana Lopez` beside 1ana@ was refused for the `ana`
      // in her name; a regression probe). A digit the name shows counts wherever it stands (`Xab12` beside ab12@).
      return forms.some(([form, added]) => {
        const text = form.join('');
        if (form.length < 2 || form.length + added.length < 3 || !/\p{N}/u.test(added + text)) return false;
        return /\p{N}/u.test(text) ? shown.includes(text) : spellsInWholeWords(shownWords, text);
      });
    });
  });
}

/**
 * What of the customer's shown email `findOwnIdentifierIn` looks for: `whole`, the address's letters and digits, also
 * with `at` for its `@` (`max-mustermann-at-firma-de`, a regression probe), spelled by words in a row anywhere in the
 * text (when six characters or more: shorter ones spell parts of ordinary phrases); and `withinToken`, its local part's
 * (without a `+tag`, too) when that holds a letter and a digit and five characters or more, spelled by the words of one
 * token between spaces (`jane.doe7`, `ref-jane-doe7`): across spaces it refused ordinary text beside such addresses
 * (`iPhone 15 screen cracked` beside iphone15@gmail.com, `Invoice Jan 2025` beside jan2025@web.de; a regression probe).
 * A local part of letters alone reads as a name, one of digits alone as any number.
 */
function emailSkeletons(email: string): EmailSkeletons {
  const at = email.lastIndexOf('@');
  const localPart = email.slice(0, at);
  const domain = skeletonOf(email.slice(at + 1));
  const atDomain = (local: string) => [`${local}${domain}`, `${local}at${domain}`].filter((form) => form.length >= MIN_EMAIL_SKELETON_LENGTH);
  // The mailbox without its `+tag` too (`jane.roe.example.org` for jane.roe+crm@example.org; a regression probe): in
  // whole words anywhere when five letters or digits are left of it, else within one token (`tom#web.de` for
  // tom+crm@web.de): read across spaces, `my+shop@gmail.com` refused `Cannot access my gmail.com account`, and
  // `+news@gmail.com`, with nothing left, any text naming gmail.com (the next regression probes).
  const mailbox = skeletonOf(localPart.split('+', 1)[0] ?? '');
  const whole = [...new Set([...atDomain(skeletonOf(localPart)), ...(mailbox.length >= 5 ? atDomain(mailbox) : [])])];
  const withinToken = mailbox.length > 0 && mailbox.length < 5 ? atDomain(mailbox) : [];
  const locals = [...new Set([localPart, localPart.split('+', 1)[0] ?? ''])]
    .map(skeletonOf)
    .filter((skeleton) => skeleton.length >= 5 && /\p{L}/u.test(skeleton) && /\p{N}/u.test(skeleton));
  return { whole, withinToken: [...locals, ...withinToken] };
}

const MIN_EMAIL_SKELETON_LENGTH = 6;

/** The words of a text as skeletonOf reads it: its runs of letters and digits. */
function skeletonWordsOf(text: string, options: { keepCase?: boolean } = {}): string[] {
  return foldForSkeleton(text, options)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0);
}

/**
 * The words of a text as skeletonWordsOf reads them, and for each whether only white space stands before it (the
 * first word's is false): how spellsCrmSkeleton tells `100 234` from `100-234`.
 */
function skeletonWordsWithJoints(text: string): { words: string[]; spaced: boolean[] } {
  const folded = foldForSkeleton(text);
  const words: string[] = [];
  const spaced: boolean[] = [];
  let previousEnd = -1;
  for (const match of folded.matchAll(/[\p{L}\p{N}]+/gu)) {
    words.push(match[0]);
    spaced.push(previousEnd >= 0 && /^\s+$/u.test(folded.slice(previousEnd, match.index)));
    previousEnd = match.index + match[0].length;
  }
  return { words, spaced };
}

/**
 * Whether some words in a row, read without what separates them, are exactly `skeleton`: `jane_doe7_example_com`,
 * `jane doe7 example com` and `janedoe7examplecom` spell `janedoe7examplecom`; `Anna webdesign` does not spell
 * `annawebde`, nor `Lab coat` `abco` (a regression probe: a check on the letters of the whole text, word boundaries
 * ignored, refused them and much ordinary text beside short addresses, big-provider domains and role addresses).
 */
function spellsInWholeWords(words: readonly string[], skeleton: string): boolean {
  for (let start = 0; start < words.length; start++) {
    let run = '';
    for (let end = start; end < words.length && run.length < skeleton.length; end++) {
      run += words[end];
      if (!skeleton.startsWith(run)) break;
      if (run.length === skeleton.length) return true;
    }
  }
  return false;
}

/**
 * The letters and digits of a text as the identifier checks read it (foldForMatching: look-alikes, escapes, what
 * shows nothing), lower-cased (`İ` to `i` and a mark, which goes) and with digits of any script as ASCII.
 */
function skeletonOf(text: string): string {
  return foldForSkeleton(text).replace(/[^\p{L}\p{N}]/gu, '');
}

/**
 * Latin letters that no decomposition takes back to the letter they look like (strokes, the dotless i, small
 * capitals, the script g, the dotless j): `ᴀᴄᴍᴇᴏx S.`, `Acmeø7 S.`, `Quıll9z S.`, `Acmeɡ7 S.` showed ACMEOX, ACMEO7,
 * quill9z@ and ACMEG7 (regression probes). A list, so not complete; letters of other scripts that look alike are not
 * folded (see showsCrmId).
 */
const LATIN_LOOK_ALIKE_OF: Record<string, string> = {
  ø: 'o', Ø: 'O', ł: 'l', Ł: 'L', đ: 'd', Đ: 'D', ı: 'i', ħ: 'h', Ħ: 'H', ŧ: 't', Ŧ: 'T', ƀ: 'b', ɨ: 'i', ʉ: 'u', ƶ: 'z', Ƶ: 'Z',
  ɍ: 'r', ɏ: 'y', ǥ: 'g', ɉ: 'j', ȼ: 'c', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE',
  ɡ: 'g', ɑ: 'a', ƚ: 'l', ɫ: 'l', ȷ: 'j', ʠ: 'q', ǀ: 'l', ɩ: 'i', ꞯ: 'Q',
  ᴀ: 'A', ʙ: 'B', ᴄ: 'C', ᴅ: 'D', ᴇ: 'E', ꜰ: 'F', ɢ: 'G', ʜ: 'H', ɪ: 'I', ᴊ: 'J', ᴋ: 'K', ʟ: 'L', ᴍ: 'M', ɴ: 'N', ᴏ: 'O',
  ᴘ: 'P', ʀ: 'R', ꜱ: 'S', ᴛ: 'T', ᴜ: 'U', ᴠ: 'V', ᴡ: 'W', ʏ: 'Y', ᴢ: 'Z',
};
const LATIN_LOOK_ALIKES = new RegExp(`[${Object.keys(LATIN_LOOK_ALIKE_OF).join('')}]`, 'gu');

/**
 * A text folded as skeletonOf and skeletonWordsOf read it: accents and other marks dropped too (`Ácme7q` kept its `Á`
 * and showed ACME7Q; a regression probe), lower-cased unless `keepCase`.
 */
function foldForSkeleton(text: string, { keepCase = false }: { keepCase?: boolean } = {}): string {
  const folded = foldForMatching(text).replace(LATIN_LOOK_ALIKES, (letter) => LATIN_LOOK_ALIKE_OF[letter] ?? letter);
  return asciiDigits((keepCase ? folded : folded.toLowerCase()).normalize('NFKD').replace(/\p{M}/gu, '').normalize('NFKC'));
}

/**
 * Whether a name or language tag shows one of these CRM ids: as the screen reads text (namesAnyCrmId), or spelt by
 * whole words in a row whatever separates them (`ACME_X7HKMKT S.` and `ACME Q.` showed ACME-X7HKMKT and ACMEQ; a
 * regression probe). Ids of fewer than four letters and digits are not looked for, as in free text; letters of another
 * script that look alike (`АСМЕ` in Cyrillic) are not folded, as a deliberate encoding is not looked for.
 */
function showsCrmId(text: string, crmIds: readonly string[]): boolean {
  if (namesAnyCrmId(text, crmIds)) return true;
  const words = skeletonWordsOf(text);
  return crmIds.some((id) => {
    const skeleton = skeletonOf(id);
    return skeleton.length >= MIN_SCREENED_CRM_ID_LENGTH && spellsInWholeWords(words, skeleton);
  });
}

/** Whether the text names one of these CRM ids, read as the screen reads text (`crmIdCandidates`), in any case. */
function namesAnyCrmId(text: string, crmIds: readonly string[]): boolean {
  if (crmIds.length === 0) return false;
  const forms = new Set([...crmIdCandidates(foldForMatching(text))].map((form) => form.toLowerCase()));
  return crmIds.some((id) => forms.has(id.toLowerCase()));
}

const MAX_PIECES = 6;
const CRM_ID_SEPARATORS = ['-', '_', '.', ':'];
const SEPARATOR_VARIANT_PIECES = 4;
const PLUS_TAG_FORMS = 2;
const MIN_SCREENED_CRM_ID_LENGTH = 4;

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error('the value could not be decrypted');
}

/** What a phone number sent whole looks like: a `+` or `00`, then digits and the separators people type. */
const PHONE_SENT = /^\s*(?:\+|00)[\d\s().-]{6,24}$/;
/** Strings a request's parameters are read for, at most, and the longest one read (an address is at most 254). */
const MAX_TEXTS_SENT = 1_000;
const MAX_IDENTIFIERS_SENT = 50;
const MAX_TEXT_SENT_LENGTH = 320;

/** The strings of a request's `variables` and the string literals of its `query`, as screenIdentifiersSent reads them. */
function textsSentIn(params: unknown): string[] {
  const texts: string[] = [];
  const add = (text: string) => {
    if (texts.length < MAX_TEXTS_SENT && text.length >= 5 && text.length <= MAX_TEXT_SENT_LENGTH) texts.push(text);
  };
  const walk = (value: unknown, depth: number): void => {
    if (texts.length >= MAX_TEXTS_SENT || depth > MAX_PARAMETER_DEPTH) return;
    if (typeof value === 'string') add(value);
    else if (Array.isArray(value)) for (const item of value) walk(item, depth + 1);
    else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) walk(item, depth + 1);
  };
  if (params === null || typeof params !== 'object') return texts;
  // A batch (Apollo refuses it, after this): each operation's.
  if (Array.isArray(params)) return params.slice(0, 10).flatMap((one: unknown) => (Array.isArray(one) ? [] : textsSentIn(one))).slice(0, MAX_TEXTS_SENT);
  const { query, variables } = params as { query?: unknown; variables?: unknown };
  // Over GET, variables come as JSON text.
  if (typeof variables === 'string') {
    try {
      walk(JSON.parse(variables) as unknown, 0);
    } catch {
      // Not JSON: Apollo refuses the request.
    }
  } else walk(variables, 0);
  // Read by graphql-js' own lexer, in one pass, escapes (`\u0040`) and block strings as GraphQL reads them: a regex over the
  // text started again at every quote, and 100 KB of `"\` in a comment blocked the process for 0.85 s (a regression probe).
  // Most queries take their values as variables and hold no string at all: those are not lexed (every request passes here).
  if (typeof query === 'string' && query.includes('"')) {
    const lexer = new Lexer(new Source(query));
    try {
      for (let token = lexer.advance(); token.kind !== TokenKind.EOF && texts.length < MAX_TEXTS_SENT; token = lexer.advance()) {
        if ((token.kind === TokenKind.STRING || token.kind === TokenKind.BLOCK_STRING) && token.value !== undefined) add(token.value.trim());
      }
    } catch {
      // Not a document (Apollo refuses it): what was read so far is screened.
    }
  }
  return texts;
}

function tooManyIdentifiers(source: 'registration' | 'link'): BadUserInputError {
  return new BadUserInputError(`A customer holds at most ${MAX_IDENTIFIERS_PER_CUSTOMER} identifiers`, { field: source === 'link' ? 'identifier' : 'identifiers' });
}
