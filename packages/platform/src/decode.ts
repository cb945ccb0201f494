import type { z } from 'zod';
import { PoisonMessageError } from './errors.ts';

/** Why a message will never be what its contract says. */
export type RefusalReason = 'not-json' | 'schema';

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: RefusalReason; readonly detail: string };

const decoder = new TextDecoder();

/** One line of every issue: `path: message; …`, `root` naming an issue of the whole value. */
export const issuesOf = (error: z.ZodError, root = '(root)'): string =>
  error.issues.map((issue) => `${issue.path.map(String).join('.') || root}: ${issue.message}`).join('; ');

/**
 * A message's bytes (or text) read as JSON and checked against its contract: the value, or why it
 * never will be one. The one place a message is decoded, so every consumer refuses alike.
 */
export function decodeJson<T>(
  schema: z.ZodType<T>,
  data: Uint8Array | string,
  options: { root?: string } = {},
): Decoded<T> {
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: 'not-json', detail: err instanceof Error ? err.message : String(err) };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reason: 'schema', detail: issuesOf(parsed.error, options.root) };
}

/** `decodeJson`, or a `PoisonMessageError` (context `reason`) saying what `what` failed. */
export function parseMessage<T>(schema: z.ZodType<T>, data: Uint8Array | string, what: string): T {
  const decoded = decodeJson(schema, data);
  if (decoded.ok) return decoded.value;
  throw new PoisonMessageError(
    decoded.reason === 'not-json'
      ? `${what} is not JSON`
      : `${what} does not match its contract: ${decoded.detail}`,
    { context: { reason: decoded.reason } },
  );
}
