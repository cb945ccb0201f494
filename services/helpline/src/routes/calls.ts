import { type CallTarget, type HELPLINE_CALL_ROUTES, newId } from '@telecare/contracts';
import type { RouteHandlers } from '@telecare/platform';
import { CaseNotFoundError, PartyNotFoundError, TransitionRefusedError } from '../errors.ts';
import { callUri, TelephonyError } from '../telephony.ts';
import { actorOf, type RouteContext } from './context.ts';

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

  return {
    callTargets: async (req) => {
      const stored = await storedCase(req.params.id);
      await ctx.mayReadResident(req, stored.case);
      const { parties, targets } = await callTargets(stored.case.residentId);
      if (parties.available) ctx.personalRead(req, 'call-targets', [stored.case.residentId], stored.case.id);
      return {
        telephony: deps.telephony.mode,
        targets,
        ...(parties.message ? { message: parties.message } : {}),
      };
    },

    startCall: async (req, reply) => {
      const { id } = req.params;
      const body = req.body;
      const principal = who(req);
      const key = requestKeyOf(req);
      const stored = await storedCase(id);
      const { targets } = await callTargets(stored.case.residentId);
      const target = targets.find(
        (t) =>
          t.party === body.party &&
          (body.party !== 'responder' || t.responderId === body.responderId) &&
          (body.party !== 'home-unit' || !body.deviceSerial || t.deviceSerial === body.deviceSerial),
      );
      if (key) {
        // The same click again (a lost answer, a double click): the call already placed, not another.
        // Another request's key is refused here, before the phone rings.
        const done = await deps.store.keptStep(id, key, { actor: principal.id, kinds: ['call-started'] });
        if (done) {
          const call = (await deps.store.calls(id)).find((c) => c.id === done.data.callId);
          return reply.code(200).send({
            callId: done.data.callId,
            party: done.data.party,
            uri: target?.uri ?? '',
            via: done.data.via,
            pbxReference: call?.pbxReference ?? null,
            startedAt: call?.startedAt,
            eventId: done.id,
          });
        }
      }
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
      const callId = newId('call', deps.clock.now());
      const extension = (await deps.people.getUser(principal.id))?.extension ?? null;
      let placed: { via: 'browser' | 'pbx'; reference: string | null; failed?: string };
      try {
        const result = await deps.telephony.place({
          callId,
          caseId: id,
          uri: target.uri,
          operatorId: principal.id,
          extension,
        });
        placed = { via: result.via, reference: result.via === 'pbx' ? result.reference : null };
      } catch (err) {
        if (!(err instanceof TelephonyError)) throw err;
        // The call must still happen: the operator dials the same URI from the console.
        placed = { via: 'browser', reference: null, failed: err.message };
      }
      const at = now();
      const { event } = await deps.store.startCall(
        id,
        {
          id: callId,
          party: body.party,
          responderId: target.responderId,
          deviceSerial: target.deviceSerial,
          scheme: target.uri.startsWith('tel:') ? 'tel' : 'sip',
          via: placed.via,
          pbxReference: placed.reference,
          pbxFailed: placed.failed,
        },
        actorOf(principal),
        at,
        key,
      );
      deps.publisher.flushInBackground();
      deps.logger.info(
        { caseId: id, callId, party: body.party, via: placed.via, userId: principal.id },
        'call started',
      );
      return {
        callId,
        party: body.party,
        uri: target.uri,
        via: placed.via,
        pbxReference: placed.reference,
        startedAt: at.toISOString(),
        ...(placed.failed ? { message: `${placed.failed}: dial ${target.uri} from here` } : {}),
        eventId: event.id,
      };
    },

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
      const { id } = req.params;
      await storedCase(id);
      return { calls: await deps.store.calls(id) };
    },
  };
}
