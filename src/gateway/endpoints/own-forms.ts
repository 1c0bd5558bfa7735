// The forms of SignOnce's own pages on the auth host (the account page, the admin console): the
// same-origin rule of every state-changing request a browser sends with SignOnce's cookies, one
// body type, a small size.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.ts';
import { page, readBody } from '../http.ts';
import { errorPage } from '../pages.ts';
import { crossOrigin } from '../rules/cross-origin.ts';

const FORM_LIMIT_BYTES = 8 * 1024;

/**
 * The fields of a form posted to one of SignOnce's own pages, or the answer already sent when it
 * may not be read: `403` from another site or origin, `415` another body, `413` too large. `back`:
 * where the error page's link leads (none: no link); `title`: the error page's.
 */
export async function readOwnForm(
  ctx: GatewayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  back: string | undefined,
  title = 'Refused',
): Promise<URLSearchParams | { answered: FastifyReply }> {
  if (crossOrigin(request.headers, ctx.publicUrl.host))
    return { answered: page(reply, 403, errorPage(title, 'This form can only be sent from its own page.', back)) };
  if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? ''))
    return {
      answered: page(reply, 415, errorPage(title, 'The form was sent in a way SignOnce does not accept.', back)),
    };
  const body = await readBody(request.raw, FORM_LIMIT_BYTES);
  if (body === undefined)
    return {
      answered: page(reply.header('connection', 'close'), 413, errorPage(title, 'The form is too large.', back)),
    };
  return new URLSearchParams(body.toString('utf8'));
}

/** 303 back to `location` after a form's action (post/redirect/get). */
export const seeOther = (reply: FastifyReply, location: string) =>
  reply.code(303).header('cache-control', 'no-store').redirect(location);
