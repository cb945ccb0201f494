import { type DeviceKind, newId } from '@telecare/contracts';
import { type Pool, withTransaction } from '@telecare/platform';
import { DuplicateSerialError, NotFoundError, UnknownResidentError } from './errors.ts';
import {
  type Device,
  type DeviceRow,
  type Resident,
  type ResidentRow,
  toDevice,
  toResident,
} from './records.ts';

export interface NewResident {
  name: string;
  address: string;
  /** Already normalised (see postcode.ts). */
  postcode: string;
  phone: string | null;
  livesAlone: boolean;
}

export interface NewDevice {
  serial: string;
  residentId: string | null;
  kind: DeviceKind;
  model: string | null;
  protocol: 'mqtt' | 'dc09';
  location: string | null;
  supervisionIntervalS: number | null;
}

export interface Page {
  limit: number;
  offset: number;
}

/** A device row with the fields of its resident the device map needs. */
export interface MapRows {
  device: DeviceRow;
  resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null;
}

interface MapJoinRow extends DeviceRow {
  r_id: string | null;
  r_postcode_district: string | null;
  r_updated_at: Date | null;
}

const PG_UNIQUE_VIOLATION = '23505';
const PG_FOREIGN_KEY_VIOLATION = '23503';

const pgCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The registry's tables in its own schema. Every write is one transaction. */
export class RegistryStore {
  readonly #pool: Pool;
  readonly #residents: string;
  readonly #devices: string;

  constructor(pool: Pool, schema: string) {
    this.#pool = pool;
    // Qualified names rather than search_path: the pool's connections are shared and reused.
    this.#residents = `${quoteIdent(schema)}.residents`;
    this.#devices = `${quoteIdent(schema)}.devices`;
  }

  async createResident(input: NewResident, now: Date): Promise<Resident> {
    const id = newId('res', now.getTime());
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<ResidentRow>(
        `insert into ${this.#residents}
           (id, name, address, postcode, phone, lives_alone, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $7)
         returning *`,
        [id, input.name, input.address, input.postcode, input.phone, input.livesAlone, now],
      );
      return toResident(rows[0]!);
    });
  }

  async getResident(id: string): Promise<Resident> {
    const { rows } = await this.#pool.query<ResidentRow>(`select * from ${this.#residents} where id = $1`, [
      id,
    ]);
    if (!rows[0]) throw new NotFoundError('resident', id);
    return toResident(rows[0]);
  }

  async listResidents(page: Page): Promise<Resident[]> {
    const { rows } = await this.#pool.query<ResidentRow>(
      `select * from ${this.#residents} order by id limit $1 offset $2`,
      [page.limit, page.offset],
    );
    return rows.map(toResident);
  }

  async createDevice(input: NewDevice, now: Date): Promise<Device> {
    const id = newId('dev', now.getTime());
    const state = input.residentId ? 'installed' : 'stock';
    return withTransaction(this.#pool, async (client) => {
      if (input.residentId) {
        // KEY SHARE holds the resident against deletion until the device is committed.
        const found = await client.query(`select 1 from ${this.#residents} where id = $1 for key share`, [
          input.residentId,
        ]);
        if (found.rowCount === 0) throw new UnknownResidentError(input.residentId);
      }
      try {
        const { rows } = await client.query<DeviceRow>(
          `insert into ${this.#devices}
             (id, serial, resident_id, kind, model, protocol, location, supervision_interval_s,
              state, test_mode, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10, $10)
           returning *`,
          [
            id,
            input.serial,
            input.residentId,
            input.kind,
            input.model,
            input.protocol,
            input.location,
            input.supervisionIntervalS,
            state,
            now,
          ],
        );
        return toDevice(rows[0]!);
      } catch (err) {
        if (pgCode(err) === PG_UNIQUE_VIOLATION) throw new DuplicateSerialError(input.serial, { cause: err });
        if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION && input.residentId) {
          throw new UnknownResidentError(input.residentId, { cause: err });
        }
        throw err;
      }
    });
  }

  async getDevice(serial: string): Promise<Device> {
    const { rows } = await this.#pool.query<DeviceRow>(`select * from ${this.#devices} where serial = $1`, [
      serial,
    ]);
    if (!rows[0]) throw new NotFoundError('device', serial);
    return toDevice(rows[0]);
  }

  async listDevices(filter: { residentId?: string | undefined }, page: Page): Promise<Device[]> {
    const { rows } = await this.#pool.query<DeviceRow>(
      `select * from ${this.#devices}
        where ($1::text is null or resident_id = $1)
        order by serial limit $2 offset $3`,
      [filter.residentId ?? null, page.limit, page.offset],
    );
    return rows.map(toDevice);
  }

  /** The rows behind one device-map entry, or undefined if no device has this serial. */
  async mapRowsFor(serial: string): Promise<MapRows | undefined> {
    const { rows } = await this.#pool.query<MapJoinRow>(`${this.#mapSelect()} where d.serial = $1`, [serial]);
    return rows[0] ? splitMapRow(rows[0]) : undefined;
  }

  /**
   * Every device's map rows, in serial order, a batch at a time (keyset pagination, so a large
   * estate is never held in memory at once).
   */
  async *allMapRows(batchSize = 500): AsyncGenerator<MapRows> {
    let after = '';
    for (;;) {
      const { rows } = await this.#pool.query<MapJoinRow>(
        `${this.#mapSelect()} where d.serial > $1 order by d.serial limit $2`,
        [after, batchSize],
      );
      for (const row of rows) yield splitMapRow(row);
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1]!.serial;
    }
  }

  #mapSelect(): string {
    return `select d.*, r.id as r_id, r.postcode_district as r_postcode_district, r.updated_at as r_updated_at
              from ${this.#devices} d left join ${this.#residents} r on r.id = d.resident_id`;
  }
}

function splitMapRow(row: MapJoinRow): MapRows {
  const { r_id, r_postcode_district, r_updated_at, ...device } = row;
  return {
    device,
    resident:
      r_id !== null && r_postcode_district !== null && r_updated_at !== null
        ? { id: r_id, postcode_district: r_postcode_district, updated_at: r_updated_at }
        : null,
  };
}
