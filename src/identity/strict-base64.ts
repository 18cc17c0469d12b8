/**
 * Decodes standard base64 (padding optional) and refuses anything else.
 * Buffer.from(…, 'base64') silently skips characters it does not know, so a
 * typo or a truncated paste of a secret would otherwise become a different,
 * shorter key.
 */
export function decodeStrictBase64(encoded: string): Buffer | null {
  if (encoded.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null;
  const unpadded = encoded.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return null;
  if (encoded.length !== unpadded.length && encoded.length % 4 !== 0) return null;
  const bytes = Buffer.from(unpadded, 'base64');
  // Round-tripping rejects non-canonical trailing bits and misplaced padding.
  if (bytes.toString('base64').replace(/=+$/, '') !== unpadded) return null;
  return bytes;
}

/** Fewer distinct byte values than this in a key of 32 bytes or more: no random source made it. */
const MIN_DISTINCT_KEY_BYTES = 8;

/**
 * Whether key bytes could have come from a random source: an all-zero key (`AAAA…A=`), or one byte repeated, was
 * taken as a 32-byte key (a probe). Random 32 bytes hold about 30 distinct values; fewer than 8 happens by chance
 * with a probability under 10^-40.
 */
export function looksRandom(bytes: Uint8Array): boolean {
  return new Set(bytes).size >= MIN_DISTINCT_KEY_BYTES;
}
