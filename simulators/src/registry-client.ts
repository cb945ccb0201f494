import {
  ApiCallError,
  type Client,
  createClient,
  type DeviceKind,
  type ImportResultView,
  REGISTRY_ROUTES,
  type RegistryRoutes,
} from '@telecare/contracts';

export interface NewResident {
  name: string;
  address: string;
  postcode: string;
  phone: string;
  livesAlone: boolean;
}

export interface NewDevice {
  serial: string;
  residentId: string;
  kind: DeviceKind;
  /** Where it is fixed; omitted for worn devices. */
  location?: string;
  supervisionIntervalS: number;
  /** `dc09` for a disperser that reports through the DC-09 gateway (default `mqtt`). */
  protocol?: 'mqtt' | 'dc09';
  dc09Account?: string;
  dc09CodeOverrides?: Readonly<Record<string, string>>;
}

/** A device's broker login as the registry issues it: shown once, never readable again. */
export interface DeviceCredentials {
  username: string;
  secret: string;
}

/** The fields of a registered device that the simulators read back. */
export interface RegisteredDevice {
  serial: string;
  residentId: string | null;
  kind: DeviceKind;
  state: string;
}

/** A resident as the cohort reads them back: the reference and the referral and install days. */
export interface CohortResidentRecord {
  id: string;
  externalRef: string | null;
  referredOn: string | null;
  firstInstalledAt: string | null;
}

/** The registry's HTTP API as the simulators use it, on the typed client of its route contracts. */
export class RegistryClient {
  readonly #api: Client<RegistryRoutes>;

  constructor(baseUrl: string, token: string) {
    // A bulk import of thousands of homes is still one request, as for the CLI.
    this.#api = createClient(REGISTRY_ROUTES, {
      baseUrl,
      token,
      service: 'the registry',
      timeoutMs: 120_000,
    });
  }

  createResident(resident: NewResident): Promise<{ id: string }> {
    return this.#api.createResident({ body: resident });
  }

  /** `credentials` is there only when the registry issues broker secrets, and only in this answer. */
  createDevice(device: NewDevice): Promise<{ id: string; serial: string; credentials?: DeviceCredentials }> {
    return this.#api.createDevice({ body: device });
  }

  /**
   * Issues the device a new broker secret (the old one stops working); null when the registry
   * issues none (`credentials-disabled`: the broker takes devices without a secret).
   */
  async issueCredentials(serial: string): Promise<DeviceCredentials | null> {
    try {
      return (await this.#api.issueCredentials({ params: { serial } })).credentials ?? null;
    } catch (err) {
      if (err instanceof ApiCallError && err.code === 'credentials-disabled') return null;
      throw err;
    }
  }

  /** A registered device, or null when the serial was never registered. */
  async getDevice(serial: string): Promise<RegisteredDevice | null> {
    try {
      return await this.#api.getDevice({ params: { serial } });
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 404) return null;
      throw err;
    }
  }

  decommission(serial: string): Promise<RegisteredDevice> {
    return this.#api.decommissionDevice({ params: { serial } });
  }

  /**
   * Every resident whose reference starts with `prefix` and whose name contains `name`, by
   * reference, read a page of a thousand at a time.
   */
  async residentsByRefPrefix(prefix: string, name: string): Promise<Map<string, CohortResidentRecord>> {
    const out = new Map<string, CohortResidentRecord>();
    for (let offset = 0; ; offset += 1000) {
      const page = await this.#api.listResidents({ query: { name, limit: 1000, offset } });
      for (const r of page.residents)
        if (r.externalRef?.startsWith(prefix))
          out.set(r.externalRef, {
            id: r.id,
            externalRef: r.externalRef,
            referredOn: r.referredOn ?? null,
            firstInstalledAt: r.firstInstalledAt ?? null,
          });
      if (offset + page.residents.length >= page.total || page.residents.length === 0) return out;
    }
  }

  /** Records a care package (hours per week from a day, to a day or open-ended). */
  addCarePackage(
    residentId: string,
    body: { hoursPerWeek: number; startDate: string; endDate: string | null },
  ): Promise<{ id: string }> {
    return this.#api.addCarePackage({ params: { id: residentId }, body });
  }

  /** Bulk import (`POST /api/import`): residents and devices as CSV, written in one transaction. */
  importCsv(files: { residents?: string; devices?: string }): Promise<ImportResultView> {
    return this.#api.importCsv({ body: files });
  }
}
