import { withTransaction } from '@telecare/platform';
import { parse } from 'csv-parse/sync';
import type { CredentialAuthority } from './credentials.ts';
import { hashSecret, newSecret } from './crypto.ts';
import { InvalidRequestError } from './errors.ts';
import {
  CreateDeviceBody,
  CreateResidentBody,
  type ImportBody,
  keylessProblem,
  parseRequest,
} from './schemas.ts';
import type { RegistryStore } from './store.ts';

export interface ImportError {
  file: 'residents' | 'devices';
  /** The line in the file (1 is the header). */
  line: number;
  /** The column at fault, or `(row)` / `(file)`. */
  field: string;
  message: string;
}

export interface ImportResult {
  imported: boolean;
  residents: Array<{ line: number; ref: string; id: string }>;
  devices: Array<{ line: number; serial: string }>;
  serials: string[];
  /** Each imported MQTT device's broker login, when credentials are on: shown in this answer only. */
  credentials: Array<{ serial: string; username: string; secret: string }>;
  errors: ImportError[];
}

const RESIDENT_COLUMNS = {
  required: ['ref', 'name', 'address', 'postcode'],
  optional: ['phone', 'livesAlone', 'mobilityNotes', 'riskNotes', 'keySafe', 'medicalSummary', 'consent'],
};
const DEVICE_COLUMNS = {
  required: ['serial', 'kind'],
  optional: [
    'resident',
    'protocol',
    'location',
    'supervisionIntervalS',
    'model',
    'dc09Account',
    'dc09Key',
    'dc09KeyEncoding',
    'dc09CodeOverrides',
  ],
};

interface Row {
  line: number;
  values: Record<string, string>;
}

/** Parses CSV text with a header; a missing required column or an unknown one refuses the file. */
function readCsv(
  file: ImportError['file'],
  text: string,
  columns: { required: string[]; optional: string[] },
  errors: ImportError[],
): Row[] {
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, trim: true, info: true, bom: true });
  } catch (err) {
    const line = typeof err === 'object' && err !== null && 'lines' in err ? Number(err.lines) : 1;
    errors.push({ file, line, field: '(file)', message: `not readable CSV: ${(err as Error).message}` });
    return [];
  }
  const header =
    text
      .split(/\r?\n/, 1)[0]
      ?.split(',')
      .map((c) => c.trim().replace(/^"|"$/g, '')) ?? [];
  let ok = true;
  for (const column of columns.required) {
    if (!header.includes(column)) {
      errors.push({ file, line: 1, field: column, message: `column ${column} is missing` });
      ok = false;
    }
  }
  for (const column of header) {
    if (!columns.required.includes(column) && !columns.optional.includes(column)) {
      errors.push({ file, line: 1, field: column, message: `unknown column ${column}` });
      ok = false;
    }
  }
  return ok ? records.map((r) => ({ line: r.info.lines, values: r.record })) : [];
}

const blank = (value: string | undefined): value is undefined => value === undefined || value === '';

function bool(value: string | undefined): boolean | string | undefined {
  if (blank(value)) return undefined;
  const v = value.toLowerCase();
  if (['true', 'yes', 'y', '1'].includes(v)) return true;
  if (['false', 'no', 'n', '0'].includes(v)) return false;
  return value; // left as text so validation names the field
}

function int(value: string | undefined): number | string | undefined {
  if (blank(value)) return undefined;
  return /^-?\d+$/.test(value) ? Number(value) : value;
}

/**
 * A `dc09CodeOverrides` cell: `CID 120=fall.detected;SIA UA=flood.detected`. Gives the object
 * for the schema to check code by code (so an error names `dc09CodeOverrides.<code>`), or the
 * reason the cell itself cannot be read; a blank cell gives nothing.
 */
export function parseCodeOverrides(value: string | undefined): {
  overrides?: Record<string, string>;
  problem?: string;
} {
  if (blank(value)) return {};
  const overrides: Record<string, string> = {};
  for (const entry of value.split(';')) {
    if (entry.trim() === '') continue;
    const at = entry.indexOf('=');
    const code = entry.slice(0, at).trim().replace(/\s+/g, ' ').toUpperCase();
    const type = entry.slice(at + 1).trim();
    if (at < 0 || !code || !type) {
      return {
        problem: `"${entry.trim()}" must be CODE=event.type, entries separated by ; (CID 120=fall.detected;SIA UA=flood.detected)`,
      };
    }
    if (code in overrides) return { problem: `${code} is given twice` };
    overrides[code] = type;
  }
  return { overrides };
}

/** Blank cells are absent fields, so defaults apply. */
function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== ''));
}

function issuesOf(run: () => unknown): Array<{ path: string; message: string }> {
  try {
    run();
    return [];
  } catch (err) {
    if (err instanceof InvalidRequestError) return [...err.issues];
    throw err;
  }
}

/**
 * Validates every row of both files first, then — only if there is no error, or `importValid`
 * asks for the good rows — writes them in one transaction. A device whose resident row is bad is
 * bad too; nothing is ever half-written.
 */
export async function importCsv(
  store: RegistryStore,
  body: ImportBody,
  now: Date,
  authority?: CredentialAuthority,
  dc09Keyless: 'refuse' | 'allow' = 'refuse',
): Promise<ImportResult> {
  const errors: ImportError[] = [];
  const residentRows = body.residents ? readCsv('residents', body.residents, RESIDENT_COLUMNS, errors) : [];
  const deviceRows = body.devices ? readCsv('devices', body.devices, DEVICE_COLUMNS, errors) : [];
  const fileErrors = errors.length > 0;

  const goodResidents = new Map<string, { line: number; body: CreateResidentBody }>();
  const badRefs = new Set<string>();
  for (const { line, values } of residentRows) {
    const ref = values.ref ?? '';
    const rowErrors: ImportError[] = [];
    if (!ref) rowErrors.push({ file: 'residents', line, field: 'ref', message: 'required' });
    else if (goodResidents.has(ref) || badRefs.has(ref)) {
      rowErrors.push({ file: 'residents', line, field: 'ref', message: `ref ${ref} appears twice` });
    }
    const input = defined({
      name: values.name,
      address: values.address,
      postcode: values.postcode,
      phone: values.phone,
      livesAlone: bool(values.livesAlone),
      mobilityNotes: values.mobilityNotes,
      riskNotes: values.riskNotes,
      keySafe: values.keySafe,
      medicalSummary: values.medicalSummary,
      consent: bool(values.consent),
    });
    let parsed: CreateResidentBody | undefined;
    for (const issue of issuesOf(() => {
      parsed = parseRequest(CreateResidentBody, input);
    })) {
      rowErrors.push({ file: 'residents', line, field: issue.path, message: issue.message });
    }
    if (parsed && (parsed.keySafe || parsed.medicalSummary) && !store.canSeal) {
      const field = parsed.keySafe ? 'keySafe' : 'medicalSummary';
      rowErrors.push({
        file: 'residents',
        line,
        field,
        message: 'cannot be stored without REGISTRY_DATA_KEY',
      });
    }
    if (rowErrors.length > 0 || !parsed) {
      errors.push(...rowErrors);
      if (ref) badRefs.add(ref);
    } else goodResidents.set(ref, { line, body: parsed });
  }

  const serials = deviceRows.map((r) => r.values.serial ?? '').filter(Boolean);
  const accounts = deviceRows.map((r) => (r.values.dc09Account ?? '').toUpperCase()).filter(Boolean);
  const existing = await store.existingKeys(serials, accounts);
  const residentIds = deviceRows.map((r) => r.values.resident ?? '').filter((v) => v.startsWith('res_'));
  const knownIds = await store.residentsExist(residentIds);
  const seenSerials = new Set<string>();
  const seenAccounts = new Set<string>();
  const goodDevices: Array<{ line: number; ref: string | null; body: CreateDeviceBody }> = [];
  for (const { line, values } of deviceRows) {
    const rowErrors: ImportError[] = [];
    const ref = blank(values.resident) ? null : values.resident;
    let residentId: string | null = null;
    if (ref !== null) {
      if (ref.startsWith('res_') && !goodResidents.has(ref) && !badRefs.has(ref)) {
        if (knownIds.has(ref)) residentId = ref;
        else rowErrors.push({ file: 'devices', line, field: 'resident', message: `unknown resident ${ref}` });
      } else if (badRefs.has(ref)) {
        rowErrors.push({
          file: 'devices',
          line,
          field: 'resident',
          message: `resident ${ref} has errors in residents.csv`,
        });
      } else if (!goodResidents.has(ref)) {
        rowErrors.push({ file: 'devices', line, field: 'resident', message: `unknown resident ${ref}` });
      }
    }
    const { overrides, problem } = parseCodeOverrides(values.dc09CodeOverrides);
    if (problem) rowErrors.push({ file: 'devices', line, field: 'dc09CodeOverrides', message: problem });
    const input = defined({
      serial: values.serial,
      kind: values.kind,
      protocol: values.protocol,
      location: values.location,
      supervisionIntervalS: int(values.supervisionIntervalS),
      model: values.model,
      dc09Account: values.dc09Account,
      dc09Key: values.dc09Key,
      dc09KeyEncoding: values.dc09KeyEncoding,
      dc09CodeOverrides: overrides,
      // Checked above; a placeholder keeps the schema's own resident-id check out of the way.
      residentId,
    });
    let parsed: CreateDeviceBody | undefined;
    for (const issue of issuesOf(() => {
      parsed = parseRequest(CreateDeviceBody, input);
    })) {
      rowErrors.push({ file: 'devices', line, field: issue.path, message: issue.message });
    }
    const keyless = keylessProblem(dc09Keyless, values.dc09Account, Boolean(values.dc09Key));
    if (keyless) rowErrors.push({ file: 'devices', line, field: 'dc09Key', message: keyless });
    const serial = values.serial ?? '';
    if (serial && (seenSerials.has(serial) || existing.serials.has(serial))) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'serial',
        message: existing.serials.has(serial)
          ? `serial ${serial} is already registered`
          : `serial ${serial} appears twice`,
      });
    }
    if (serial) seenSerials.add(serial);
    const account = parsed?.dc09Account;
    if (account && (seenAccounts.has(account) || existing.accounts.has(account))) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'dc09Account',
        message: `DC-09 account ${account} is already in use`,
      });
    }
    if (account) seenAccounts.add(account);
    if (parsed?.dc09Key && !store.canSeal) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'dc09Key',
        message: 'cannot be stored without REGISTRY_DATA_KEY',
      });
    }
    if (rowErrors.length > 0 || !parsed) errors.push(...rowErrors);
    else goodDevices.push({ line, ref: residentId === null ? ref : null, body: parsed });
  }

  const result: ImportResult = {
    imported: false,
    residents: [],
    devices: [],
    serials: [],
    credentials: [],
    errors,
  };
  if (fileErrors || (errors.length > 0 && !body.importValid)) return result;
  if (goodResidents.size === 0 && goodDevices.length === 0) return result;

  // Secrets go into the broker before the commit, as for one registration; if the broker refuses
  // one, or the commit fails, the ones already installed are taken out again: nothing half-written.
  const installed: string[] = [];
  try {
    await withTransaction(store.pool, async (client) => {
      const ids = new Map<string, string>();
      for (const [ref, { line, body: resident }] of goodResidents) {
        const created = await store.createResident(resident, now, client);
        ids.set(ref, created.id);
        result.residents.push({ line, ref, id: created.id });
      }
      for (const { line, ref, body: device } of goodDevices) {
        const residentId = ref === null ? device.residentId : (ids.get(ref) ?? null);
        const secret = authority && device.protocol === 'mqtt' ? newSecret() : undefined;
        await store.createDevice({ ...device, residentId }, now, {
          client,
          ...(secret ? { credentialHash: hashSecret(secret), credentialSecret: secret } : {}),
        });
        result.devices.push({ line, serial: device.serial });
        result.serials.push(device.serial);
        if (secret) result.credentials.push({ serial: device.serial, username: device.serial, secret });
      }
      for (const { serial, secret } of result.credentials) {
        await authority!.install(serial, secret);
        installed.push(serial);
      }
    });
  } catch (err) {
    for (const serial of installed) await authority!.revoke(serial).catch(() => undefined);
    throw err;
  }
  result.imported = true;
  return result;
}
