// Tampering with a JWT for refusal tests, reliably: the last base64url character of a signature
// carries padding bits, so changing it may change nothing; a character at the start always does.

/** The JWT with one character of its signature changed. */
export function tamperedSignature(jwt: string): string {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  return `${header}.${payload}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
}
