import type { Logger } from '@telecare/platform';
import { z } from 'zod';
import { Responder } from './api.ts';

const TIMEOUT_MS = 2_000;
/** Devices whose health is looked up for one case view (a home rarely has more). */
const MAX_HEALTH_LOOKUPS = 20;

const ResidentBody = z.record(z.string(), z.unknown());
const ResidentName = z.looseObject({ name: z.string().min(1), postcode: z.string().optional() });
const NAME_TTL_MS = 60_000;
const NAME_MISS_TTL_MS = 15_000;
const NAME_LOOKUPS_AT_ONCE = 8;
const NAME_CACHE_MAX = 10_000;
/** A UK postcode's district, its outward code ("GL1" of "GL1 1AA"); null when there is none. */
export function postcodeDistrict(postcode: string | undefined): string | null {
  const compact = (postcode ?? '').toUpperCase().replace(/\s+/g, '');
  // The inward code is always a digit and two letters: what comes before it is the district.
  return /^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$/.test(compact) ? compact.slice(0, -3) : null;
}
const DevicesBody = z.union([
  z.array(z.record(z.string(), z.unknown())),
  z.object({ devices: z.array(z.record(z.string(), z.unknown())) }).transform((b) => b.devices),
]);
const RespondersBody = z.object({ responders: z.array(Responder) });
/** The registry's `GET /api/devices/{serial}/health`; extra fields are kept for the console. */
const HealthBody = z.looseObject({
  lastHeartbeatAt: z.string().nullable().optional(),
  batteryPercent: z.number().nullable().optional(),
  mains: z.union([z.string(), z.boolean()]).nullable().optional(),
  signalDbm: z.number().nullable().optional(),
  lastEventAt: z.string().nullable().optional(),
  overdue: z.boolean().optional(),
  overdueSince: z.string().nullable().optional(),
});
const RevealAnswer = z.looseObject({
  keySafe: z.string().nullable().optional(),
  medicalSummary: z.string().nullable().optional(),
});

/** The helpline's names for the sensitive fields, and the registry's. */
const REGISTRY_FIELD = { keySafe: 'keySafe', medical: 'medicalSummary' } as const;
export type SensitiveField = keyof typeof REGISTRY_FIELD;
/** Resident fields that are never shown in the case view: only a reveal gives their value. */
const HIDDEN = ['keySafe', 'medicalSummary', 'keySafeCode', 'medicalNotes'] as const;

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

const SpeechDevice = z.looseObject({
  serial: z.string(),
  kind: z.string().default('device'),
  location: z.string().nullable().optional(),
  voiceUri: z.string().min(1),
  residentId: z.string().nullable().optional(),
});

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

type Answer = { ok: true; body: unknown } | { ok: false; status: number | 'unreachable'; body?: unknown };

const errorMessage = (body: unknown): string | undefined =>
  typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string'
    ? body.message
    : undefined;

/**
 * Reads residents, devices, device health and responders from the registry's API (the registry
 * owns them), and reveals sensitive fields through its audited reveal. When the registry cannot be
 * reached the helpline keeps working: the case view says what is missing.
 */
export class RegistryClient {
  /** Resident display names for the queue: kept briefly, in memory only (never logged or stored). */
  readonly #names = new Map<string, { name: string | null; district: string | null; until: number }>();

  constructor(
    private readonly baseUrl: string | undefined,
    private readonly token: string | undefined,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Display names of residents for the queue of a signed-in operator, from the registry, cached
   * for NAME_TTL_MS (a miss or an unreachable registry for NAME_MISS_TTL_MS, so a down registry
   * is not asked again on every render). Unknown or unreadable residents are left out.
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
    for (let i = 0; i < wanted.length; i += NAME_LOOKUPS_AT_ONCE) {
      await Promise.all(
        wanted.slice(i, i + NAME_LOOKUPS_AT_ONCE).map(async (id) => {
          const answer = await this.#call(`/api/residents/${encodeURIComponent(id)}`);
          const parsed = answer.ok ? ResidentName.safeParse(answer.body) : undefined;
          const name = parsed?.success ? parsed.data.name : null;
          const district = parsed?.success ? postcodeDistrict(parsed.data.postcode) : null;
          const entry = { name, district, until: now + (name ? NAME_TTL_MS : NAME_MISS_TTL_MS) };
          this.#names.set(id, entry);
          keep(id, entry);
        }),
      );
    }
    if (this.#names.size > NAME_CACHE_MAX)
      for (const [id, entry] of this.#names) if (entry.until <= now) this.#names.delete(id);
    return { names, districts };
  }

  async #call(path: string, init: { method?: string; body?: unknown } = {}): Promise<Answer> {
    if (!this.baseUrl) return { ok: false, status: 'unreachable' };
    try {
      const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(new URL(path, this.baseUrl), {
        method: init.method ?? 'GET',
        headers,
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await response.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      return response.ok ? { ok: true, body } : { ok: false, status: response.status, body };
    } catch (err) {
      this.logger.warn({ err, path }, 'registry not reachable');
      return { ok: false, status: 'unreachable' };
    }
  }

  /** The resident (sensitive fields removed), their devices with health, and their ordered responders. */
  async context(residentId: string): Promise<ResidentContextView> {
    if (!this.baseUrl)
      return {
        available: false,
        message:
          'No registry is configured: resident details, devices and responders are not available here.',
        resident: null,
        devices: [],
        responders: [],
      };
    const id = encodeURIComponent(residentId);
    const [resident, devices, responders] = await Promise.all([
      this.#call(`/api/residents/${id}`),
      this.#call(`/api/devices?residentId=${id}`),
      this.#call(`/api/residents/${id}/responders`),
    ]);
    const problems: string[] = [];
    let residentView: Record<string, unknown> | null = null;
    if (resident.ok) {
      const parsed = ResidentBody.safeParse(resident.body);
      if (parsed.success) {
        residentView = { ...parsed.data };
        // The registry sends these masked; the view says only whether a value is recorded.
        residentView.keySafeRecorded = Boolean(parsed.data.keySafe ?? parsed.data.keySafeCode);
        residentView.medicalRecorded = Boolean(parsed.data.medicalSummary ?? parsed.data.medicalNotes);
        for (const key of HIDDEN) delete residentView[key];
      } else problems.push('the registry sent a resident this console cannot read');
    } else
      problems.push(
        resident.status === 'unreachable'
          ? 'The registry is not reachable: call the resident from the phone system and work the protocol.'
          : `The registry answered ${resident.status} for this resident.`,
      );
    let deviceList: Record<string, unknown>[] = [];
    if (devices.ok) {
      const parsed = DevicesBody.safeParse(devices.body);
      if (parsed.success)
        deviceList = parsed.data.filter((d) => d.residentId === undefined || d.residentId === residentId);
    }
    deviceList = await Promise.all(
      deviceList.map(async (device, i) =>
        i < MAX_HEALTH_LOOKUPS && typeof device.serial === 'string'
          ? { ...device, health: await this.health(device.serial) }
          : device,
      ),
    );
    let responderList: Responder[] = [];
    if (responders.ok) {
      const parsed = RespondersBody.safeParse(responders.body);
      if (parsed.success) responderList = [...parsed.data.responders].sort((a, b) => a.order - b.order);
      else problems.push('the registry sent a responder list this console cannot read');
    } else if (resident.ok)
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
    const id = encodeURIComponent(residentId);
    const [resident, devices, responders] = await Promise.all([
      this.#call(`/api/residents/${id}`),
      this.#call(`/api/devices?residentId=${id}`),
      this.#call(`/api/residents/${id}/responders`),
    ]);
    if (!resident.ok)
      return {
        ...none,
        message:
          resident.status === 'unreachable'
            ? 'The registry is not reachable: dial from the phone system; 999 is still here.'
            : `The registry answered ${resident.status} for this resident.`,
      };
    const phone = z.looseObject({ phone: z.string().nullable().optional() }).safeParse(resident.body);
    const deviceList = devices.ok ? DevicesBody.safeParse(devices.body) : undefined;
    const speechLines = (deviceList?.success ? deviceList.data : []).flatMap((d) => {
      const parsed = SpeechDevice.safeParse(d);
      if (!parsed.success) return [];
      const device = parsed.data;
      if (device.residentId !== undefined && device.residentId !== residentId) return [];
      return [
        {
          serial: device.serial,
          kind: device.kind,
          location: device.location ?? null,
          voiceUri: device.voiceUri,
        },
      ];
    });
    const responderList = responders.ok ? RespondersBody.safeParse(responders.body) : undefined;
    return {
      available: true,
      residentPhone: phone.success ? (phone.data.phone ?? null) : null,
      speechLines,
      responders: responderList?.success
        ? [...responderList.data.responders].sort((a, b) => a.order - b.order)
        : [],
    };
  }

  /** A device's health (battery, mains, last heartbeat), or null when the registry has none to give. */
  async health(serial: string): Promise<z.infer<typeof HealthBody> | null> {
    const answer = await this.#call(`/api/devices/${encodeURIComponent(serial)}/health`);
    if (!answer.ok) return null;
    const parsed = HealthBody.safeParse(answer.body);
    return parsed.success ? parsed.data : null;
  }

  /**
   * A sensitive field through the registry's audited reveal, with the helpline's own token: the
   * registry records the case and the person on it as data, next to the reason.
   */
  async reveal(residentId: string, field: SensitiveField, who: RevealRequest): Promise<RevealResult> {
    const registryField = REGISTRY_FIELD[field];
    const answer = await this.#call(`/api/residents/${encodeURIComponent(residentId)}/reveal`, {
      method: 'POST',
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
      const detail = errorMessage(answer.body);
      return {
        value: null,
        audited: false,
        message: `the registry refused (${answer.status})${detail ? `: ${detail}` : ''}`,
      };
    }
    const parsed = RevealAnswer.safeParse(answer.body);
    if (!parsed.success)
      return { value: null, audited: true, message: 'the registry sent an answer this console cannot read' };
    const value = parsed.data[registryField];
    return typeof value === 'string' && value.length > 0
      ? { value, audited: true }
      : { value: null, audited: true, message: 'not recorded in the registry' };
  }
}
