// Rules every JWS verifier of SignOnce applies, whoever issued the token (RFC 8725 section 3.10:
// keys are the verifier's choice, never the token's).

/** Header parameters that point at keys elsewhere or demand extensions (RFC 7515 section 4.1): never followed, refused. */
export const FORBIDDEN_HEADERS: readonly string[] = ['jku', 'x5u', 'jwk', 'x5c', 'crit'];
