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
