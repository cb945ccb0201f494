import type { DeviceKind } from '@telecare/contracts';

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

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`registry answered ${status}: ${body.slice(0, 300)}`);
    this.name = 'RegistryError';
  }
}

/** The registry's HTTP API, as an installer's tool uses it. */
export class RegistryClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async #post<T>(path: string, body: unknown): Promise<T> {
    const response = await fetch(new URL(path, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new RegistryError(response.status, text);
    return JSON.parse(text) as T;
  }

  createResident(resident: NewResident): Promise<{ id: string }> {
    return this.#post('/api/residents', resident);
  }

  /** `credentials` is there only when the registry issues broker secrets, and only in this answer. */
  createDevice(device: NewDevice): Promise<{ id: string; serial: string; credentials?: DeviceCredentials }> {
    return this.#post('/api/devices', device);
  }

  /**
   * Issues the device a new broker secret (the old one stops working); null when the registry
   * issues none (`credentials-disabled`: the broker takes devices without a secret).
   */
  async issueCredentials(serial: string): Promise<DeviceCredentials | null> {
    try {
      const issued = await this.#post<{ credentials?: DeviceCredentials }>(
        `/api/devices/${encodeURIComponent(serial)}/credentials`,
        {},
      );
      return issued.credentials ?? null;
    } catch (err) {
      if (err instanceof RegistryError && err.status === 409 && err.body.includes('credentials-disabled'))
        return null;
      throw err;
    }
  }

  /** A registered device, or null when the serial was never registered. */
  async getDevice(serial: string): Promise<RegisteredDevice | null> {
    const response = await fetch(new URL(`/api/devices/${encodeURIComponent(serial)}`, this.baseUrl), {
      headers: { authorization: `Bearer ${this.token}` },
    });
    const text = await response.text();
    if (response.status === 404) return null;
    if (!response.ok) throw new RegistryError(response.status, text);
    return JSON.parse(text) as RegisteredDevice;
  }

  decommission(serial: string): Promise<RegisteredDevice> {
    return this.#post(`/api/devices/${encodeURIComponent(serial)}/decommission`, {});
  }

  /** Bulk import (`POST /api/import`): residents and devices as CSV, written in one transaction. */
  importCsv(files: { residents?: string; devices?: string }): Promise<{
    imported: boolean;
    residents: Array<{ line: number; ref: string; id: string }>;
    devices: Array<{ line: number; serial: string }>;
    errors: Array<{ file: string; line: number; field: string; message: string }>;
  }> {
    return this.#post('/api/import', files);
  }
}
