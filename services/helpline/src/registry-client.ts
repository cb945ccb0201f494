import type { ContextResponder as Responder } from '@telecare/contracts';
import {
  ApiCallError,
  type CallInput,
  type Client,
  createClient,
  type DeviceHealthView,
  REGISTRY_ROUTES,
  type RegistryRoutes,
} from '@telecare/contracts';
import type { Logger } from '@telecare/platform';
import type { z } from 'zod';

/** One lookup, however many calls it makes (HELPLINE_REGISTRY_TIMEOUT_MS). */
const TIMEOUT_MS = 2_000;
/** Devices whose health is looked up for one case view (a home rarely has more). */
const MAX_HEALTH_LOOKUPS = 20;

const NAME_TTL_MS = 60_000;
/** A resident the registry answered for without a name (it does not know them). */
const NAME_MISS_TTL_MS = 15_000;
/**
 * A resident the registry did not answer for (out of time, unreachable, refused): asked again at
 * the console's next ask, a second or more later, not 15 s later; a loaded registry that misses one
 * lookup answers the next, and the queue's card shows the name rather than the id. The console asks
 * at most once a second and backs off (1 s, 2 s, 4 s, then 15 s), so a registry that stays down is
 * asked no more than that.
 */
const NAME_UNANSWERED_TTL_MS = 1_000;
const NAME_LOOKUPS_AT_ONCE = 8;
const NAME_CACHE_MAX = 10_000;
/** Registry calls in flight at once by default (HELPLINE_REGISTRY_CONNECTIONS). */
const REGISTRY_CALLS_AT_ONCE = 64;
/** A UK postcode's district, its outward code ("GL1" of "GL1 1AA"); null when there is none. */
export function postcodeDistrict(postcode: string | undefined): string | null {
  const compact = (postcode ?? '').toUpperCase().replace(/\s+/g, '');
  // The inward code is always a digit and two letters: what comes before it is the district.
  return /^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$/.test(compact) ? compact.slice(0, -3) : null;
}

/** The helpline's names for the sensitive fields, and the registry's. */
const REGISTRY_FIELD = { keySafe: 'keySafe', medical: 'medicalSummary' } as const;
export type SensitiveField = keyof typeof REGISTRY_FIELD;
/** Resident fields that are never shown in the case view: only a reveal gives their value. */
const HIDDEN = ['keySafe', 'medicalSummary'] as const;

export interface ResidentContextView {
  available: boolean;
  message?: string;
  resident: Record<string, unknown> | null;
  devices: Record<string, unknown>[];
  responders: Responder[];
}

/** The people and devices a case's calls can go to, with the numbers the registry holds for them. */
export interface CallParties {
  available: boolean;
  message?: string;
  residentPhone: string | null;
  /** The resident's devices with a speech line (a home unit's number or sip: URI). */
  speechLines: { serial: string; kind: string; location: string | null; voiceUri: string }[];
  responders: Responder[];
}

/** Who asks for a reveal, and why: the registry records the case and the person as data. */
export interface RevealRequest {
  readonly caseId: string;
  readonly actorId: string;
  readonly actorRole: 'operator' | 'supervisor' | 'admin';
  readonly reason?: string;
}

export interface RevealResult {
  value: string | null;
  /** True when the registry recorded the read in its own audit (it answered 200). */
  audited: boolean;
  message?: string;
}

type Routes = RegistryRoutes;
type Answer<K extends keyof Routes> =
  | { ok: true; body: z.output<Routes[K]['response']> }
  | { ok: false; status: number | 'unreachable' | 'timeout'; message?: string };

const byOrder = (responders: readonly Responder[]) => [...responders].sort((a, b) => a.order - b.order);

/**
 * An alarm for a resident id the registry does not know (a device paired to a resident since
 * removed, a mapping gone wrong) still rings; the case view says so in words, with what to do.
 */
const unknownResident = (residentId: string, then: string): string =>
  `The registry has no resident ${residentId}: ${then}, and tell your supervisor so the device can be checked.`;

/**
 * Reads residents, devices, device health and responders from the registry's API (the registry
 * owns them), and reveals sensitive fields through its audited reveal. When the registry cannot be
 * reached the helpline keeps working: the case view says what is missing.
 *
 * Each lookup has one deadline (`timeoutMs`) for all the calls it makes: a registry that accepts
 * the connection and never answers costs a case view, a queue's names or a call's numbers that
 * long at most, never a timeout per call one after another. Nothing that raises or offers a case
 * asks the registry.
 */
export class RegistryClient {
  /** Resident display names for the queue: kept briefly, in memory only (never logged or stored). */
  readonly #names = new Map<string, { name: string | null; district: string | null; until: number }>();
  readonly #api: Client<Routes> | undefined;

  constructor(
    private readonly baseUrl: string | undefined,
    token: string | undefined,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly timeoutMs: number = TIMEOUT_MS,
    /** Calls in flight at once, so sockets to the registry stay under its per-address cap. */
    maxConcurrent: number = REGISTRY_CALLS_AT_ONCE,
  ) {
    this.#api = baseUrl
      ? createClient(REGISTRY_ROUTES, { baseUrl, token, timeoutMs, service: 'the registry', maxConcurrent })
      : undefined;
  }

  /** The deadline of one lookup. */
  #deadline(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }

  /** The registry not answering, in words, for a view that then says what to do. */
  #silent(status: 'unreachable' | 'timeout'): string {
    return status === 'timeout'
      ? `The registry did not answer within ${this.timeoutMs / 1000} s`
      : 'The registry is not reachable';
  }

  /**
   * Display names of residents for the queue of a signed-in operator, from the registry, cached
   * for NAME_TTL_MS (a resident the registry does not know for NAME_MISS_TTL_MS; one it did not
   * answer for, for NAME_UNANSWERED_TTL_MS). Unknown or unreadable residents are left out.
   */
  async names(residentIds: readonly string[]): Promise<Record<string, string>> {
    return (await this.queueResidents(residentIds)).names;
  }

  /**
   * The queue's view of its residents: display names and postcode districts (the outward code,
   * "GL1"), so a busy queue can be searched by name and grouped by district. Cached as `names`.
   */
  async queueResidents(
    residentIds: readonly string[],
  ): Promise<{ names: Record<string, string>; districts: Record<string, string> }> {
    const now = this.now();
    const names: Record<string, string> = {};
    const districts: Record<string, string> = {};
    const keep = (id: string, entry: { name: string | null; district: string | null }) => {
      if (entry.name) names[id] = entry.name;
      if (entry.district) districts[id] = entry.district;
    };
    const wanted: string[] = [];
    for (const id of new Set(residentIds)) {
      const cached = this.#names.get(id);
      if (cached && cached.until > now) keep(id, cached);
      else wanted.push(id);
    }
    if (!this.baseUrl) return { names, districts };
    const signal = this.#deadline();
    for (let i = 0; i < wanted.length; i += NAME_LOOKUPS_AT_ONCE) {
      // Out of time: the rest count as unanswered (asked again after NAME_UNANSWERED_TTL_MS), not asked now.
      if (signal.aborted) {
        for (const id of wanted.slice(i))
          this.#names.set(id, { name: null, district: null, until: now + NAME_UNANSWERED_TTL_MS });
        break;
      }
      await Promise.all(
        wanted.slice(i, i + NAME_LOOKUPS_AT_ONCE).map(async (id) => {
          const answer = await this.#call('getResident', { params: { id }, signal });
          const name = answer.ok ? answer.body.name : null;
          const district = answer.ok ? postcodeDistrict(answer.body.postcode) : null;
          const known = answer.ok || answer.status === 404;
          const ttl = name ? NAME_TTL_MS : known ? NAME_MISS_TTL_MS : NAME_UNANSWERED_TTL_MS;
          const entry = { name, district, until: now + ttl };
          this.#names.set(id, entry);
          keep(id, entry);
        }),
      );
    }
    if (this.#names.size > NAME_CACHE_MAX)
      for (const [id, entry] of this.#names) if (entry.until <= now) this.#names.delete(id);
    return { names, districts };
  }

  /** One registry route; a refusal or an unreachable registry is an answer, not a throw. */
  async #call<K extends keyof Routes>(route: K, input: CallInput<Routes[K]>): Promise<Answer<K>> {
    const api = this.#api;
    if (!api) return { ok: false, status: 'unreachable' };
    try {
      const call = api[route] as (input: CallInput<Routes[K]>) => Promise<z.output<Routes[K]['response']>>;
      return { ok: true, body: await call(input) };
    } catch (err) {
      if (!(err instanceof ApiCallError)) throw err;
      if (typeof err.status === 'number') return { ok: false, status: err.status, message: err.message };
      if (err.status === 'timeout') {
        this.logger.warn({ route, timeoutMs: this.timeoutMs }, 'registry did not answer in time');
        return { ok: false, status: 'timeout' };
      }
      this.logger.warn({ err, route }, 'registry not reachable');
      return { ok: false, status: 'unreachable' };
    }
  }

  /** A resident's record, devices and responders, asked for at once. */
  #home(residentId: string, signal: AbortSignal) {
    return Promise.all([
      this.#call('getResident', { params: { id: residentId }, signal }),
      this.#call('listDevices', { query: { residentId }, signal }),
      this.#call('listResponders', { params: { id: residentId }, signal }),
    ]);
  }

  /**
   * The resident (sensitive fields removed), their devices with health, and their ordered
   * responders. Without the registry's device list, the devices are those the case's alerts came
   * from (`carried`, asked for only then), by serial and the kind the alerts gave (`device` when
   * none did), with no health.
   */
  async context(
    residentId: string,
    carried: () => Promise<readonly { serial: string; kind: string | null }[]> = async () => [],
  ): Promise<ResidentContextView> {
    const fromCase = async () =>
      (await carried()).map(({ serial, kind }) => ({
        serial,
        kind: kind ?? 'device',
        state: 'named by the alert',
        health: null,
      }));
    if (!this.baseUrl)
      return {
        available: false,
        message:
          'No registry is configured: resident details, devices and responders are not available here.',
        resident: null,
        devices: await fromCase(),
        responders: [],
      };
    const signal = this.#deadline();
    const [resident, devices, responders] = await this.#home(residentId, signal);
    const problems: string[] = [];
    let residentView: Record<string, unknown> | null = null;
    if (resident.ok) {
      residentView = { ...resident.body };
      // The registry sends these masked; the view says only whether a value is recorded.
      residentView.keySafeRecorded = Boolean(resident.body.keySafe);
      residentView.medicalRecorded = Boolean(resident.body.medicalSummary);
      for (const key of HIDDEN) delete residentView[key];
    } else
      problems.push(
        resident.status === 'unreachable' || resident.status === 'timeout'
          ? `${this.#silent(resident.status)}: call the resident from the phone system and work the protocol.`
          : resident.status === 404
            ? unknownResident(residentId, 'work the protocol from the phone system')
            : `The registry answered ${resident.status} for this resident.`,
      );
    const deviceList: Record<string, unknown>[] = devices.ok
      ? await Promise.all(
          devices.body.devices
            .filter((d) => d.residentId === residentId)
            .map(async (device, i) =>
              i < MAX_HEALTH_LOOKUPS
                ? { ...device, health: await this.health(device.serial, signal) }
                : device,
            ),
        )
      : await fromCase();
    let responderList: Responder[] = [];
    if (responders.ok) responderList = byOrder(responders.body.responders);
    else if (resident.ok)
      problems.push('No responder list from the registry: go to emergency services if needed.');
    return {
      available: resident.ok,
      ...(problems.length ? { message: problems.join(' ') } : {}),
      resident: residentView,
      devices: deviceList,
      responders: responderList,
    };
  }

  /**
   * The numbers for the case's call actions, read from the registry each time (never cached, never
   * stored or logged): the resident's phone, their devices' speech lines, their responders' phones.
   */
  async parties(residentId: string): Promise<CallParties> {
    const none: CallParties = { available: false, residentPhone: null, speechLines: [], responders: [] };
    if (!this.baseUrl)
      return { ...none, message: 'No registry is configured: only 999 can be called from here.' };
    const [resident, devices, responders] = await this.#home(residentId, this.#deadline());
    if (!resident.ok)
      return {
        ...none,
        message:
          resident.status === 'unreachable' || resident.status === 'timeout'
            ? `${this.#silent(resident.status)}: dial from the phone system; 999 is still here.`
            : resident.status === 404
              ? unknownResident(residentId, 'dial from the phone system; 999 is still here')
              : `The registry answered ${resident.status} for this resident.`,
      };
    const speechLines = (devices.ok ? devices.body.devices : []).flatMap((device) =>
      device.residentId === residentId && device.voiceUri
        ? [{ serial: device.serial, kind: device.kind, location: device.location, voiceUri: device.voiceUri }]
        : [],
    );
    return {
      available: true,
      residentPhone: resident.body.phone,
      speechLines,
      responders: responders.ok ? byOrder(responders.body.responders) : [],
    };
  }

  /** A device's health (battery, mains, last heartbeat), or null when the registry has none to give. */
  async health(serial: string, signal: AbortSignal = this.#deadline()): Promise<DeviceHealthView | null> {
    const answer = await this.#call('deviceHealth', { params: { serial }, signal });
    return answer.ok ? answer.body : null;
  }

  /**
   * A sensitive field through the registry's audited reveal, with the helpline's own token: the
   * registry records the case and the person on it as data, next to the reason.
   */
  async reveal(residentId: string, field: SensitiveField, who: RevealRequest): Promise<RevealResult> {
    const registryField = REGISTRY_FIELD[field];
    const answer = await this.#call('revealResident', {
      signal: this.#deadline(),
      params: { id: residentId },
      body: {
        fields: [registryField],
        reason: (who.reason ?? 'revealed during the call').slice(0, 500),
        caseId: who.caseId,
        actor: { id: who.actorId, role: who.actorRole },
      },
    });
    if (!answer.ok) {
      if (answer.status === 'unreachable')
        return { value: null, audited: false, message: 'the registry is not reachable' };
      if (answer.status === 'timeout')
        return {
          value: null,
          audited: false,
          message: `the registry did not answer within ${this.timeoutMs / 1000} s`,
        };
      return {
        value: null,
        audited: false,
        message: `the registry refused (${answer.status})${answer.message ? `: ${answer.message}` : ''}`,
      };
    }
    const value = answer.body[registryField];
    return typeof value === 'string' && value.length > 0
      ? { value, audited: true }
      : { value: null, audited: true, message: 'not recorded in the registry' };
  }
}
