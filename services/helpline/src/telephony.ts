import type { TelephonyMode } from '@telecare/contracts';
import { type Logger, TelecareError } from '@telecare/platform';
import { z } from 'zod';

export { CALL_PARTIES, type CallParty, TELEPHONY_MODES, type TelephonyMode } from '@telecare/contracts';

/** A call to place: the party's URI (from the registry, never from the browser) and who places it. */
export interface CallRequest {
  readonly callId: string;
  readonly caseId: string;
  /** `tel:` or `sip:`. */
  readonly uri: string;
  readonly operatorId: string;
  /** The operator's own phone or softphone extension; null when none is set. */
  readonly extension: string | null;
}

/**
 * How the call was placed: `browser`, the console opens the URI and the operator's softphone or
 * desk phone (the tel:/sip: handler) dials; `pbx`, the phone system rings the operator's extension
 * and then the party.
 */
export type Placed = { readonly via: 'browser' } | { readonly via: 'pbx'; readonly reference: string | null };

/** The phone system did not place the call; the operator can still dial the URI by hand. */
export class TelephonyError extends TelecareError {
  readonly retryable = true;
  constructor(
    message: string,
    readonly callId: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { context: { callId }, ...options });
  }
}

/** What places calls: `none` leaves it to the browser, a click-to-call adapter asks a PBX. */
export interface TelephonyAdapter {
  readonly mode: TelephonyMode;
  place(call: CallRequest): Promise<Placed>;
}

/** No phone system integration: the console opens the tel:/sip: URI and the operator's phone dials. */
export class BrowserTelephony implements TelephonyAdapter {
  readonly mode = 'none' as const;
  async place(): Promise<Placed> {
    return { via: 'browser' };
  }
}

/** The PBX's answer: a call reference under one of the names PBX APIs use, if any. */
const PbxAnswer = z
  .looseObject({
    id: z.union([z.string(), z.number()]).optional(),
    callId: z.union([z.string(), z.number()]).optional(),
    reference: z.union([z.string(), z.number()]).optional(),
  })
  .catch({});

/**
 * Click-to-call through a SIP PBX's HTTP API: one POST of `{from, to, reference, caseId}` (the
 * operator's extension, the party's URI, the helpline's call id), with a bearer token when set. The
 * PBX rings `from`, and when the operator picks up, dials `to`. Any 2xx is placed; anything else,
 * or no answer within the timeout, is a TelephonyError.
 */
export class HttpClickToCall implements TelephonyAdapter {
  readonly mode = 'sip-click-to-call' as const;

  constructor(
    private readonly o: {
      readonly url: string;
      readonly token: string | undefined;
      readonly timeoutMs: number;
      readonly logger: Logger;
    },
  ) {}

  async place(call: CallRequest): Promise<Placed> {
    if (!call.extension)
      throw new TelephonyError(
        'no extension is set for you, so the phone system cannot ring you',
        call.callId,
      );
    let response: Response;
    try {
      response = await fetch(this.o.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}),
        },
        body: JSON.stringify({
          from: call.extension,
          to: call.uri,
          reference: call.callId,
          caseId: call.caseId,
        }),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (err) {
      this.o.logger.warn({ err, callId: call.callId, caseId: call.caseId }, 'phone system not reachable');
      throw new TelephonyError('the phone system did not answer', call.callId, { cause: err });
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      this.o.logger.warn(
        { callId: call.callId, caseId: call.caseId, status: response.status },
        'phone system refused the call',
      );
      throw new TelephonyError(`the phone system refused the call (${response.status})`, call.callId);
    }
    let body: unknown = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = {};
    }
    const answer = PbxAnswer.parse(body);
    const reference = answer.id ?? answer.callId ?? answer.reference;
    return { via: 'pbx', reference: reference === undefined ? null : String(reference) };
  }
}

export function createTelephony(
  config: {
    readonly HELPLINE_TELEPHONY: TelephonyMode;
    readonly HELPLINE_PBX_URL?: string | undefined;
    readonly HELPLINE_PBX_TOKEN?: string | undefined;
    readonly HELPLINE_PBX_TIMEOUT_MS: number;
  },
  logger: Logger,
): TelephonyAdapter {
  if (config.HELPLINE_TELEPHONY === 'sip-click-to-call' && config.HELPLINE_PBX_URL)
    return new HttpClickToCall({
      url: config.HELPLINE_PBX_URL,
      token: config.HELPLINE_PBX_TOKEN,
      timeoutMs: config.HELPLINE_PBX_TIMEOUT_MS,
      logger,
    });
  return new BrowserTelephony();
}

/**
 * A phone number from the registry as a `tel:` URI (visual separators dropped, a leading + kept);
 * a `sip:`/`sips:` URI as it is. Undefined for anything else.
 */
export function callUri(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^sips?:[^\s<>"]+$/i.test(trimmed)) return trimmed;
  const digits = trimmed.replace(/[\s().-]/g, '');
  return /^\+?[0-9]{3,20}$/.test(digits) ? `tel:${digits}` : undefined;
}
