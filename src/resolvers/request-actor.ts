import type { Actor } from '../customers/customer-service.js';
import type { RequestContext } from '../context.js';

export function actorFrom(ctx: RequestContext): Actor {
  return { caller: ctx.caller, requestId: ctx.requestId };
}
