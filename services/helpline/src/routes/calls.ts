import { type CallTarget, type HELPLINE_CALL_ROUTES, newId, type StartedCallView } from '@telecare/contracts';
import type { RouteHandlers } from '@telecare/platform';
import type { z } from 'zod';
import { AtOnce } from '../at-once.ts';
import {
  CaseNotFoundError,
  PartyNotFoundError,
  RateLimitedError,
  TransitionRefusedError,
} from '../errors.ts';
import type { PlacedCall } from '../store/index.ts';
import { callUri, TelephonyError } from '../telephony.ts';
import { actorOf, type RouteContext } from './context.ts';

/** A started call as answered, but for the step that recorded it. */
type StartedCall = Omit<z.infer<typeof StartedCallView>, 'eventId'>;

type StartCallHandler = RouteHandlers<typeof HELPLINE_CALL_ROUTES>['startCall'];

/**
 * Call starts one person may have running at once on an instance: one call, or a double click. A
 * start under an Idempotency-Key holds a PostgreSQL connection until the phone system has answered
 * (and one under a key being placed waits on one), so starts fired all at once would otherwise
 * take the connections the alarms coming in need.
 */
const CALL_STARTS_AT_ONCE = 2;

const tooManyStarts = (running: number) =>
  new RateLimitedError(
    'start calls',
    2,
    'too-many-requests',
    `${running} call starts of yours are still being placed; try again when one has answered`,
  );

/**
 * Voice: the case's call actions (numbers from the registry as tel:/sip: URIs, and 999), starting
 * a call (the party's number comes from the registry, never from the browser; the adapter places
 * it or leaves it to the browser, and the case records who called whom, how), ending it, and the
 * calls made.
 */
export function callHandlers(ctx: RouteContext): RouteHandlers<typeof HELPLINE_CALL_ROUTES> {
  const { deps, now, who, requestKeyOf } = ctx;
  const storedCase = async (id: string) => {
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    return stored;
  };

  /** The case's call actions: numbers from the registry as tel:/sip: URIs, and 999. */
  const callTargets = async (residentId: string) => {
    const parties = await deps.registry.parties(residentId);
    const targets: CallTarget[] = [];
    if (parties.available) {
      const lines = [...parties.speechLines].sort(
        (a, b) => Number(b.kind === 'home-unit') - Number(a.kind === 'home-unit'),
      );
      if (lines.length === 0)
        targets.push({
          party: 'home-unit',
          label: 'Home unit',
          uri: null,
          why: 'no device of this resident has a speech line (voiceUri) in the registry',
        });
      for (const line of lines) {
        const uri = callUri(line.voiceUri);
        targets.push({
          party: 'home-unit',
          label: `${line.kind === 'home-unit' ? 'Home unit' : line.kind}${line.location ? ` (${line.location})` : ''}`,
          uri: uri ?? null,
          deviceSerial: line.serial,
          ...(uri ? {} : { why: 'the speech line in the registry is not a number or sip: URI' }),
        });
      }
      const residentUri = callUri(parties.residentPhone);
      targets.push({
        party: 'resident',
        label: 'Resident',
        uri: residentUri ?? null,
        ...(residentUri ? {} : { why: 'no phone number for the resident in the registry' }),
      });
      for (const responder of parties.responders) {
        const uri = callUri(responder.phone);
        targets.push({
          party: 'responder',
          label: `${responder.name}${responder.relationship ? ` (${responder.relationship})` : ''}`,
          uri: uri ?? null,
          responderId: responder.id,
          ...(uri ? {} : { why: 'no phone number for this responder in the registry' }),
        });
      }
    }
    targets.push({
      party: 'emergency',
      label: `Emergency services (${deps.emergencyNumber})`,
      uri: `tel:${deps.emergencyNumber}`,
    });
    return { parties, targets };
  };

  /**
   * Asks the phone system to place a call to `uri`. When it cannot, the call must still happen: the
   * operator dials the same URI from the console (`via: browser`, with why).
   */
  const dial = async (caseId: string, uri: string, operatorId: string, extension: string | null) => {
    const callId = newId('call', deps.clock.now());
    try {
      const result = await deps.telephony.place({ callId, caseId, uri, operatorId, extension });
      return { callId, via: result.via, reference: result.via === 'pbx' ? result.reference : null };
    } catch (err) {
      if (!(err instanceof TelephonyError)) throw err;
      return { callId, via: 'browser' as const, reference: null, failed: err.message };
    }
  };

  /**
   * Places the call asked for and records it (see `placeCall`): the operator's extension is read
   * first, so the connection the key's claim holds is the only one a start needs meanwhile.
   */
  const startCall = async (...[req, reply]: Parameters<StartCallHandler>) => {
    const { id } = req.params;
    const body = req.body;
    const principal = who(req);
    const stored = await storedCase(id);
    const extension = (await deps.people.getUser(principal.id))?.extension ?? null;
    const { targets } = await callTargets(stored.case.residentId);
    const target = targets.find(
      (t) =>
        t.party === body.party &&
        (body.party !== 'responder' || t.responderId === body.responderId) &&
        (body.party !== 'home-unit' || !body.deviceSerial || t.deviceSerial === body.deviceSerial),
    );
    let answer: StartedCall | undefined;
    // Called once the request's key (if any) is claimed and found unused: a double click or a
    // retry under the same key waits for this one and is answered with its call, never dials.
    const place = async (): Promise<PlacedCall> => {
      // Checked before the phone rings; checked again under the case's lock when recorded.
      const mine = principal.role !== 'operator' || stored.case.assignedTo === principal.id;
      if (stored.case.state !== 'accepted' || !mine)
        throw new TransitionRefusedError(
          id,
          'call',
          stored.case.state,
          stored.case.state !== 'accepted'
            ? 'accept the case before calling anyone for it'
            : 'another operator is working this case',
          stored.case.assignedTo,
        );
      if (!target)
        throw new PartyNotFoundError(id, `the registry names no such ${body.party} for this resident`);
      if (!target.uri) throw new PartyNotFoundError(id, target.why ?? `no number for the ${body.party}`);
      const placed = await dial(id, target.uri, principal.id, extension);
      const at = now();
      answer = {
        callId: placed.callId,
        party: body.party,
        uri: target.uri,
        via: placed.via,
        pbxReference: placed.reference,
        startedAt: at.toISOString(),
        ...(placed.failed ? { message: `${placed.failed}: dial ${target.uri} from here` } : {}),
      };
      return {
        at,
        call: {
          id: placed.callId,
          party: body.party,
          responderId: target.responderId,
          deviceSerial: target.deviceSerial,
          scheme: target.uri.startsWith('tel:') ? 'tel' : 'sip',
          via: placed.via,
          pbxReference: placed.reference,
          pbxFailed: placed.failed,
        },
      };
    };
    const { event, duplicate } = await deps.store.placeCall(
      id,
      actorOf(principal),
      requestKeyOf(req),
      deps.callClaimWaitMs,
      place,
    );
    // The answer shows the number dialled: a read of the resident's (or their responder's) number.
    if (target?.uri) ctx.personalRead(req, 'call-number', [stored.case.residentId], stored.case);
    if (duplicate || !answer) {
      // The same click again (a lost answer, a double click): the call already placed, not another.
      const call = (await deps.store.calls(id)).find((c) => c.id === event.data.callId);
      return reply.code(200).send({
        callId: event.data.callId,
        party: event.data.party,
        uri: target?.uri ?? '',
        via: event.data.via,
        pbxReference: call?.pbxReference ?? null,
        startedAt: call?.startedAt,
        eventId: event.id,
      });
    }
    deps.publisher.flushInBackground();
    deps.logger.info(
      { caseId: id, callId: answer.callId, party: body.party, via: answer.via, userId: principal.id },
      'call started',
    );
    return { ...answer, eventId: event.id };
  };
  const callStarts = new AtOnce(CALL_STARTS_AT_ONCE);

  return {
    callTargets: async (req) => {
      const stored = ctx.caseRead(req);
      await ctx.mayReadResident(req, stored.case);
      const { parties, targets } = await callTargets(stored.case.residentId);
      if (parties.available) ctx.personalRead(req, 'call-targets', [stored.case.residentId], stored.case);
      return {
        telephony: deps.telephony.mode,
        targets,
        ...(parties.message ? { message: parties.message } : {}),
      };
    },

    startCall: (req, reply) => callStarts.run(who(req).id, tooManyStarts, () => startCall(req, reply)),

    endCall: async (req, reply) => {
      const { id, callId } = req.params;
      const result = await deps.store.endCall(
        id,
        callId,
        req.body,
        actorOf(who(req)),
        now(),
        requestKeyOf(req),
      );
      if (!result.duplicate) deps.publisher.flushInBackground();
      reply.code(result.duplicate ? 200 : 201);
      return result.event;
    },

    listCalls: async (req) => {
      // The case was read, and the read counted, before this (`caseRead`).
      return { calls: await deps.store.calls(req.params.id) };
    },
  };
}
