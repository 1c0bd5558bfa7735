// Which relying-party id passkeys may be bound to (`passkeys.rpId`): WebAuthn L3 section 5.1.3
// (step 8) and 5.1.4.1 let a page use its own host name or a parent domain of it, never a public
// suffix (HTML's "is a registrable domain suffix of or is equal to", with the Public Suffix List,
// private registries included, as browsers read it).
import { getDomain, parse } from 'tldts';

/**
 * Why `rpId` cannot be the relying-party id of SignOnce's pages on `authHost` (publicUrl's host
 * name), in words, or undefined when it can.
 */
export function relyingPartyIdProblem(rpId: string, authHost: string): string | undefined {
  const host = authHost.toLowerCase();
  if (rpId !== rpId.toLowerCase())
    return `${JSON.stringify(rpId)} has upper-case letters: write it as browsers do, in lower case`;
  if (rpId === host) return undefined;
  if (parse(host).isIp)
    return `${JSON.stringify(rpId)} cannot be used: the auth host is an IP address (${host}), which has no parent domain`;
  if (!host.endsWith(`.${rpId}`))
    return `${JSON.stringify(rpId)} is neither the auth host's name (${host}) nor a parent domain of it: a browser lets the auth host's pages use only those`;
  const registrable = getDomain(host, { allowPrivateDomains: true });
  if (!registrable || rpId.length < registrable.length)
    return `${JSON.stringify(rpId)} is a public suffix, which browsers refuse: the widest allowed is ${JSON.stringify(registrable ?? host)}`;
  return undefined;
}
