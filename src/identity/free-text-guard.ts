import { BadUserInputError } from '../errors.js';

// An email address anywhere in the text.
const EMAIL_LIKE = /[^\s@]+@[^\s@]+\.[^\s@]+/;
// Seven or more digits, allowing the separators people type in phone numbers.
const PHONE_LIKE = /\+?\d(?:[\s().-]*\d){6,}/;

export function containsIdentifier(text: string): boolean {
  return EMAIL_LIKE.test(text) || PHONE_LIKE.test(text);
}

/**
 * Free text that we keep (ticket subjects, justifications) must not smuggle a
 * raw identifier into a store. We reject rather than redact: the sender can
 * fix the text, and a silent rewrite would hide a leaking integration.
 */
export function assertFreeText(text: string, field: string, maxLength: number): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  if (trimmed.length === 0 || trimmed.length > maxLength) {
    throw new BadUserInputError(`${field} must be 1-${maxLength} characters`, { field });
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new BadUserInputError(`${field} must not contain control characters`, { field });
  if (containsIdentifier(trimmed)) {
    throw new BadUserInputError(`${field} must not contain an email address or phone number`, { field });
  }
  return trimmed;
}
