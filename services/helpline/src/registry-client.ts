import type { Logger } from '@telecare/platform';
import { z } from 'zod';
import { Responder } from './api.ts';

const TIMEOUT_MS = 2_000;

const ResidentBody = z.record(z.string(), z.unknown());
const DevicesBody = z.union([
  z.array(z.record(z.string(), z.unknown())),
  z.object({ devices: z.array(z.record(z.string(), z.unknown())) }).transform((b) => b.devices),
]);
const RespondersBody = z.object({ responders: z.array(Responder) });

/** Fields of a resident that are shown only through an audited reveal. */
const SENSITIVE = {
  keySafe: ['keySafeCode', 'keySafe', 'key_safe_code'],
  medical: ['medicalNotes', 'medical', 'medical_notes'],
} as const;
export type SensitiveField = keyof typeof SENSITIVE;

export interface ResidentContextView {
  available: boolean;
  message?: string;
  resident: Record<string, unknown> | null;
  devices: Record<string, unknown>[];
  responders: Responder[];
}

/**
 * Reads residents, devices and responders from the registry's API (the registry owns them). When
 * the registry cannot be reached the helpline keeps working: the case view says what is missing.
 */
export class RegistryClient {
  constructor(
    private readonly baseUrl: string | undefined,
    private readonly token: string | undefined,
    private readonly logger: Logger,
  ) {}

  async #get(
    path: string,
  ): Promise<{ ok: true; body: unknown } | { ok: false; status: number | 'unreachable' }> {
    if (!this.baseUrl) return { ok: false, status: 'unreachable' };
    try {
      const response = await fetch(new URL(path, this.baseUrl), {
        headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (!response.ok) return { ok: false, status: response.status };
      return { ok: true, body: await response.json() };
    } catch (err) {
      this.logger.warn({ err, path }, 'registry not reachable');
      return { ok: false, status: 'unreachable' };
    }
  }

  /** The resident (sensitive fields removed), their devices and their ordered responders. */
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
      this.#get(`/api/residents/${id}`),
      this.#get(`/api/devices?residentId=${id}`),
      this.#get(`/api/residents/${id}/responders`),
    ]);
    const problems: string[] = [];
    let residentView: Record<string, unknown> | null = null;
    if (resident.ok) {
      const parsed = ResidentBody.safeParse(resident.body);
      if (parsed.success) {
        residentView = { ...parsed.data };
        for (const names of Object.values(SENSITIVE)) for (const key of names) delete residentView[key];
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

  /** A sensitive field of the resident, or a sentence saying why it is not available. */
  async sensitive(
    residentId: string,
    field: SensitiveField,
  ): Promise<{ value: string | null; message?: string }> {
    const result = await this.#get(`/api/residents/${encodeURIComponent(residentId)}`);
    if (!result.ok) return { value: null, message: 'the registry is not reachable' };
    const body = ResidentBody.safeParse(result.body);
    if (!body.success)
      return { value: null, message: 'the registry sent a resident this console cannot read' };
    for (const key of SENSITIVE[field]) {
      const value = body.data[key];
      if (typeof value === 'string' && value.length > 0) return { value };
    }
    return { value: null, message: 'not recorded in the registry' };
  }
}
