import { type Pool, type PoolClient, withTransaction } from '@telecare/platform';
import type { CredentialAuthority } from './credentials.ts';
import { hashSecretAsync, newSecret } from './crypto.ts';
import { InvalidRequestError, RefusedError } from './errors.ts';
import { withoutSealed } from './idempotency.ts';
import { type DeviceRow, dayOf, type ResidentRow } from './records.ts';
import {
  CreateDeviceBody,
  CreateResidentBody,
  type ImportBody,
  keylessProblem,
  parseRequest,
  sharedKeyProblem,
  type UpdateDeviceBody,
  type UpdateResidentBody,
} from './schemas.ts';
import { type Columns, type ImportError, readCsv } from './spreadsheet.ts';
import {
  type Dc09KeyHolder,
  type DeviceNotWritten,
  type NewDevice,
  type RegistryStore,
  referralDayIssues,
} from './store.ts';

export type { ImportError } from './spreadsheet.ts';

/** What an import did with a row: a new record, a changed one, or one already as the file says. */
export type RowAction = 'created' | 'updated' | 'unchanged';

export interface ImportResult {
  imported: boolean;
  residents: Array<{ line: number; ref: string; id: string; action: RowAction; fields: string[] }>;
  devices: Array<{ line: number; serial: string; action: RowAction; fields: string[] }>;
  /** Devices whose device-map and DC-09 entries must follow (created, changed, or their resident changed). */
  serials: string[];
  /** Each imported MQTT device's broker login, when credentials are on: shown in this answer only. */
  credentials: Array<{ serial: string; username: string; secret: string }>;
  errors: ImportError[];
}

/**
 * The columns of residents.csv. `ref` is the resident's reference in the organisation's own
 * records, kept as `externalRef`: importing the file again finds the resident by it.
 */
export const RESIDENT_COLUMNS = {
  required: ['ref', 'name', 'address', 'postcode'],
  optional: [
    'phone',
    'livesAlone',
    'mobilityNotes',
    'riskNotes',
    'keySafe',
    'medicalSummary',
    'consent',
    'referredOn',
    'firstInstalledOn',
  ],
};
/** The columns of devices.csv; a device is found again by its serial. */
export const DEVICE_COLUMNS = {
  required: ['serial', 'kind'],
  optional: [
    'resident',
    'protocol',
    'location',
    'supervisionIntervalS',
    'model',
    'voiceUri',
    'dc09Account',
    'dc09Key',
    'dc09KeyEncoding',
    'dc09CodeOverrides',
    'dc09ClockZone',
  ],
};

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

/** A schema's issue, unless the cell was already refused for what a spreadsheet did to it. */
function addIssue(rowErrors: ImportError[], issue: ImportError): void {
  if (!rowErrors.some((e) => e.field === issue.field)) rowErrors.push(issue);
}

/** A row repeated (a copy pasted twice, a list merged from two) is named with the line it repeats. */
const appearsTwice = (field: string, value: string, first: number): string =>
  `${field} ${value} appears twice: it is on line ${first} too; keep one of the two rows`;

function issuesOf(run: () => unknown): Array<{ path: string; message: string }> {
  try {
    run();
    return [];
  } catch (err) {
    if (err instanceof InvalidRequestError) return [...err.issues];
    throw err;
  }
}

/** A resident row's fields and the column each one is read from (the stored row's name for it). */
const RESIDENT_FIELDS = {
  name: 'name',
  address: 'address',
  postcode: 'postcode',
  phone: 'phone',
  livesAlone: 'lives_alone',
  mobilityNotes: 'mobility_notes',
  riskNotes: 'risk_notes',
  consent: 'consent_given',
} as const satisfies Partial<Record<keyof CreateResidentBody, keyof ResidentRow>>;
const SENSITIVE_COLUMNS = { keySafe: 'key_safe_enc', medicalSummary: 'medical_summary_enc' } as const;

/**
 * What a row changes in a resident found by its ref: only the cells that are filled are compared
 * (a blank cell leaves the stored value; `resident update --clear` empties one), sensitive fields
 * against their decrypted value.
 */
function residentChanges(
  store: RegistryStore,
  row: ResidentRow,
  parsed: CreateResidentBody,
  values: Record<string, string>,
): UpdateResidentBody {
  const patch: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(RESIDENT_FIELDS) as Array<
    [keyof typeof RESIDENT_FIELDS, keyof ResidentRow]
  >) {
    if (blank(values[field])) continue;
    if (parsed[field] !== row[column]) patch[field] = parsed[field];
  }
  if (!blank(values.referredOn) && parsed.referredOn !== (row.referred_on ? dayOf(row.referred_on) : null))
    patch.referredOn = parsed.referredOn;
  const installedOn = row.first_installed_at?.toISOString().slice(0, 10) ?? null;
  if (!blank(values.firstInstalledOn) && parsed.firstInstalledOn !== installedOn)
    patch.firstInstalledOn = parsed.firstInstalledOn;
  for (const [field, column] of Object.entries(SENSITIVE_COLUMNS) as Array<
    [keyof typeof SENSITIVE_COLUMNS, 'key_safe_enc' | 'medical_summary_enc']
  >) {
    if (blank(values[field])) continue;
    if (parsed[field] !== store.open(row[column], row.id, field)) patch[field] = parsed[field];
  }
  return patch as UpdateResidentBody;
}

/**
 * What a row changes in a device found by its serial, or the reason it cannot: a kind, protocol
 * or DC-09 account does not change by a file, a decommissioned device is not revived, and a
 * device paired with someone else is not moved (unpair it first). Blank cells leave values as
 * they are.
 */
function deviceChanges(
  store: RegistryStore,
  row: DeviceRow,
  parsed: CreateDeviceBody,
  values: Record<string, string>,
  target: string | null,
): { patch: UpdateDeviceBody; problem?: { field: string; message: string } } {
  const serial = row.serial;
  if (row.state === 'decommissioned') {
    return {
      patch: {},
      problem: {
        field: 'serial',
        message: `serial ${serial} is decommissioned; register the replacement under its own serial`,
      },
    };
  }
  if (parsed.kind !== row.kind) {
    return {
      patch: {},
      problem: {
        field: 'kind',
        message: `serial ${serial} is registered as a ${row.kind}; a kind cannot change`,
      },
    };
  }
  if (!blank(values.protocol) && parsed.protocol !== row.protocol) {
    return {
      patch: {},
      problem: {
        field: 'protocol',
        message: `serial ${serial} reports over ${row.protocol}; a protocol cannot change`,
      },
    };
  }
  if (!blank(values.dc09Account) && parsed.dc09Account !== row.dc09_account) {
    return {
      patch: {},
      problem: {
        field: 'dc09Account',
        message: `serial ${serial} reports as DC-09 account ${row.dc09_account ?? '(none)'}; an account cannot change by import`,
      },
    };
  }
  const patch: UpdateDeviceBody = {};
  if (target !== null && target !== row.resident_id) {
    if (row.resident_id !== null) {
      return {
        patch: {},
        problem: {
          field: 'resident',
          message: `serial ${serial} is paired with ${row.resident_id}: unpair it first (telecare device update ${serial} --unpair)`,
        },
      };
    }
    patch.residentId = target;
  }
  if (!blank(values.location) && parsed.location !== row.location) patch.location = parsed.location;
  if (!blank(values.supervisionIntervalS) && parsed.supervisionIntervalS !== row.supervision_interval_s) {
    patch.supervisionIntervalS = parsed.supervisionIntervalS;
  }
  if (!blank(values.model) && parsed.model !== row.model) patch.model = parsed.model;
  if (!blank(values.voiceUri) && parsed.voiceUri !== row.voice_uri) patch.voiceUri = parsed.voiceUri;
  if (!blank(values.dc09ClockZone) && parsed.dc09ClockZone !== row.dc09_clock_zone) {
    patch.dc09ClockZone = parsed.dc09ClockZone;
  }
  if (
    !blank(values.dc09CodeOverrides) &&
    canonical(parsed.dc09CodeOverrides) !==
      canonical((row.dc09_code_overrides ?? {}) as Record<string, string>)
  ) {
    patch.dc09CodeOverrides = parsed.dc09CodeOverrides;
  }
  const keyGiven = !blank(values.dc09Key);
  const encodingChanged = !blank(values.dc09KeyEncoding) && parsed.dc09KeyEncoding !== row.dc09_key_encoding;
  if (keyGiven && (encodingChanged || parsed.dc09Key !== store.open(row.dc09_key_enc, row.id, 'dc09Key'))) {
    patch.dc09Key = parsed.dc09Key;
    patch.dc09KeyEncoding = parsed.dc09KeyEncoding;
  } else if (encodingChanged) {
    if (row.dc09_key_enc !== null) {
      return {
        patch: {},
        problem: { field: 'dc09KeyEncoding', message: 'changing it needs the key again in dc09Key' },
      };
    }
    patch.dc09KeyEncoding = parsed.dc09KeyEncoding;
  }
  if (Object.keys(patch).length > 0 && row.state === 'test') {
    return {
      patch: {},
      problem: {
        field: 'serial',
        message: `serial ${serial} is in a test call; import again when it has ended`,
      },
    };
  }
  return { patch };
}

const canonical = (overrides: Record<string, string>): string =>
  JSON.stringify(Object.entries(overrides).sort(([a], [b]) => a.localeCompare(b)));

/** A device's resident as the file names it: an id, or a ref of residents.csv resolved at write time. */
type Target = { id: string } | { ref: string } | null;

/**
 * Validates every row of both files first, then — only if there is no error, or `importValid`
 * asks for the good rows — writes them in one transaction. A resident is found again by its `ref`,
 * a device by its serial: a row already as stored is `unchanged`, one that differs is `updated`
 * (with the fields), a new one `created`, so importing a corrected file again adds nobody twice.
 * A device whose resident row is bad is bad too; nothing is ever half-written.
 */
export async function importCsv(
  store: RegistryStore,
  body: ImportBody,
  now: Date,
  authority?: CredentialAuthority,
  dc09Keyless: 'refuse' | 'allow' = 'refuse',
  db?: PoolClient,
): Promise<ImportResult> {
  const errors: ImportError[] = [];
  const residentRows = body.residents ? readCsv('residents', body.residents, RESIDENT_COLUMNS, errors) : [];
  const deviceRows = body.devices ? readCsv('devices', body.devices, DEVICE_COLUMNS, errors) : [];
  const fileErrors = errors.length > 0;

  const knownRefs = await store.residentsByRef(residentRows.map((r) => r.values.ref ?? '').filter(Boolean));
  const goodResidents = new Map<
    string,
    { line: number; body: CreateResidentBody; existing?: { id: string; patch: UpdateResidentBody } }
  >();
  const badRefs = new Set<string>();
  const refLines = new Map<string, number>();
  for (const { line, values, problems } of residentRows) {
    const ref = values.ref ?? '';
    const rowErrors: ImportError[] = [...problems];
    const twice = ref ? refLines.get(ref) : undefined;
    if (!ref) rowErrors.push({ file: 'residents', line, field: 'ref', message: 'required' });
    else if (twice !== undefined) {
      rowErrors.push({ file: 'residents', line, field: 'ref', message: appearsTwice('ref', ref, twice) });
    } else refLines.set(ref, line);
    const input = defined({
      externalRef: ref,
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
      referredOn: values.referredOn,
      firstInstalledOn: values.firstInstalledOn,
    });
    let parsed: CreateResidentBody | undefined;
    for (const issue of issuesOf(() => {
      parsed = parseRequest(CreateResidentBody, input);
    })) {
      const field = issue.path === 'externalRef' ? 'ref' : issue.path;
      addIssue(rowErrors, { file: 'residents', line, field, message: issue.message });
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
      continue;
    }
    const found = knownRefs.get(ref);
    const installedOn = found?.first_installed_at?.toISOString().slice(0, 10) ?? null;
    const dayIssues = referralDayIssues(
      {
        referredOn: parsed.referredOn ?? (found?.referred_on ? dayOf(found.referred_on) : null),
        firstInstalledOn: installedOn ?? parsed.firstInstalledOn,
      },
      now,
    );
    if (installedOn && parsed.firstInstalledOn && parsed.firstInstalledOn !== installedOn)
      dayIssues.push({
        path: 'firstInstalledOn',
        message: `already recorded as ${installedOn}; it does not move`,
      });
    if (dayIssues.length > 0) {
      errors.push(
        ...dayIssues.map((i) => ({ file: 'residents' as const, line, field: i.path, message: i.message })),
      );
      badRefs.add(ref);
      continue;
    }
    goodResidents.set(ref, {
      line,
      body: parsed,
      ...(found ? { existing: { id: found.id, patch: residentChanges(store, found, parsed, values) } } : {}),
    });
  }

  // A new row that matches a resident registered without a ref (before refs, or by hand) would be
  // that person a second time: refused, saying how to link the two.
  const unlinked = await store.residentsWithoutRef(
    [...goodResidents.values()].filter((r) => !r.existing).map((r) => r.body),
  );
  for (const [ref, { line, body: resident, existing: found }] of goodResidents) {
    if (found) continue;
    const twin = unlinked.find(
      (u) => u.postcode === resident.postcode && u.name.toLowerCase() === resident.name.toLowerCase(),
    );
    if (!twin) continue;
    errors.push({
      file: 'residents',
      line,
      field: 'ref',
      message: `${twin.name} at ${twin.postcode} is already registered as ${twin.id}, without a ref: give it this ref (telecare resident update ${twin.id} --ref ${ref}) and import again`,
    });
    goodResidents.delete(ref);
    badRefs.add(ref);
  }

  const serials = deviceRows.map((r) => r.values.serial ?? '').filter(Boolean);
  const accounts = deviceRows.map((r) => (r.values.dc09Account ?? '').toUpperCase()).filter(Boolean);
  const existing = await store.existingKeys(serials, accounts);
  const knownDevices = await store.devicesBySerial(serials);
  const anyCase = await store.serialsAnyCase(serials);
  const residentCells = deviceRows.map((r) => r.values.resident ?? '').filter(Boolean);
  const knownIds = await store.residentsExist(residentCells.filter((v) => v.startsWith('res_')));
  // A device row may name a resident registered before by its ref, without residents.csv.
  const storedRefs = await store.residentsByRef(
    residentCells.filter((v) => !v.startsWith('res_') && !goodResidents.has(v) && !badRefs.has(v)),
  );
  // One DC-09 key to one panel (REGISTRY_DC09_SHARED_KEY): who holds each key the file gives.
  const keyHolders = store.refusesSharedKeys
    ? await store.dc09KeyHolders(
        deviceRows.flatMap(({ values }) => {
          if (blank(values.dc09Key)) return [];
          const encoding = blank(values.dc09KeyEncoding) ? 'hex' : values.dc09KeyEncoding!;
          return store.dc09KeyFingerprint(values.dc09Key!, encoding) ?? [];
        }),
        now,
      )
    : new Map<string, Dc09KeyHolder[]>();
  const seenSerials = new Map<string, number>();
  const seenAccounts = new Set<string>();
  const seenKeys = new Map<string, number>();
  const goodDevices: Array<{
    line: number;
    target: Target;
    body: CreateDeviceBody;
    existing?: { values: Record<string, string> };
  }> = [];
  for (const { line, values, problems } of deviceRows) {
    const rowErrors: ImportError[] = [...problems];
    const ref = blank(values.resident) ? null : values.resident;
    let target: Target = null;
    if (ref !== null) {
      if (ref.startsWith('res_') && !goodResidents.has(ref) && !badRefs.has(ref)) {
        if (knownIds.has(ref)) target = { id: ref };
        else rowErrors.push({ file: 'devices', line, field: 'resident', message: `unknown resident ${ref}` });
      } else if (badRefs.has(ref)) {
        rowErrors.push({
          file: 'devices',
          line,
          field: 'resident',
          message: `resident ${ref} has errors in residents.csv`,
        });
      } else if (goodResidents.has(ref)) {
        const known = goodResidents.get(ref)?.existing;
        target = known ? { id: known.id } : { ref };
      } else if (storedRefs.has(ref)) {
        target = { id: storedRefs.get(ref)!.id };
      } else {
        rowErrors.push({ file: 'devices', line, field: 'resident', message: `unknown resident ${ref}` });
      }
    }
    const serial = values.serial ?? '';
    const found = knownDevices.get(serial);
    const { overrides, problem: overridesProblem } = parseCodeOverrides(values.dc09CodeOverrides);
    if (overridesProblem) {
      rowErrors.push({ file: 'devices', line, field: 'dc09CodeOverrides', message: overridesProblem });
    }
    const input = defined({
      serial: values.serial,
      kind: values.kind,
      // A known device keeps its protocol when the cell is blank, so its DC-09 cells are checked as DC-09.
      protocol: blank(values.protocol) && found ? found.protocol : values.protocol,
      location: values.location,
      supervisionIntervalS: int(values.supervisionIntervalS),
      model: values.model,
      voiceUri: values.voiceUri,
      dc09Account: values.dc09Account,
      dc09Key: values.dc09Key,
      dc09KeyEncoding: values.dc09KeyEncoding,
      dc09CodeOverrides: overrides,
      dc09ClockZone: values.dc09ClockZone,
      // Checked above and resolved at write time; the schema's own resident-id check stays out of the way.
      residentId: null,
    });
    let parsed: CreateDeviceBody | undefined;
    for (const issue of issuesOf(() => {
      parsed = parseRequest(CreateDeviceBody, input);
    })) {
      addIssue(rowErrors, { file: 'devices', line, field: issue.path, message: issue.message });
    }
    const account0 = blank(values.dc09Account) ? found?.dc09_account : values.dc09Account;
    const keySet = !blank(values.dc09Key) || (found?.dc09_key_enc ?? null) !== null;
    const keyless = keylessProblem(dc09Keyless, account0, keySet);
    if (keyless) rowErrors.push({ file: 'devices', line, field: 'dc09Key', message: keyless });
    // A serial is one device in any letter case, in the file and in the registry.
    const twice = serial ? seenSerials.get(serial.toLowerCase()) : undefined;
    if (twice !== undefined) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'serial',
        message: appearsTwice('serial', serial, twice),
      });
    } else if (serial) seenSerials.set(serial.toLowerCase(), line);
    const registeredAs = serial ? anyCase.get(serial.toLowerCase()) : undefined;
    if (registeredAs !== undefined && registeredAs !== serial) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'serial',
        message: `serial ${serial} is registered as ${registeredAs}: write it as registered`,
      });
    }
    const account = parsed?.dc09Account;
    const holder = account ? existing.accounts.get(account) : undefined;
    if (account && (seenAccounts.has(account) || (holder !== undefined && holder !== serial))) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'dc09Account',
        message: `DC-09 account ${account} is already in use`,
      });
    }
    if (account) seenAccounts.add(account);
    const keyFp = parsed?.dc09Key ? store.dc09KeyFingerprint(parsed.dc09Key, parsed.dc09KeyEncoding) : null;
    // A device given its own key again is not given another's.
    if (keyFp && store.refusesSharedKeys && found?.dc09_key_fp !== keyFp) {
      const inFile = seenKeys.get(keyFp);
      const holder = keyHolders
        .get(keyFp)
        ?.find((h) => h.serial !== serial && (account === undefined || h.dc09Account !== account));
      const holderName =
        inFile !== undefined ? `line ${inFile} of this file` : holder ? `device ${holder.serial}` : undefined;
      if (holderName)
        rowErrors.push({ file: 'devices', line, field: 'dc09Key', message: sharedKeyProblem(holderName) });
    }
    if (keyFp && !seenKeys.has(keyFp)) seenKeys.set(keyFp, line);
    if (parsed?.dc09Key && !store.canSeal) {
      rowErrors.push({
        file: 'devices',
        line,
        field: 'dc09Key',
        message: 'cannot be stored without REGISTRY_DATA_KEY',
      });
    }
    if (found && parsed && rowErrors.length === 0) {
      // A resident created by this import has no id yet: a placeholder marks "pair with it".
      const targetId = target === null ? null : 'id' in target ? target.id : `new:${target.ref}`;
      const { problem: why } = deviceChanges(store, found, parsed, values, targetId);
      if (why) rowErrors.push({ file: 'devices', line, ...why });
    }
    if (rowErrors.length > 0 || !parsed) errors.push(...rowErrors);
    else goodDevices.push({ line, target, body: parsed, ...(found ? { existing: { values } } : {}) });
  }

  // In file order, whichever check found them: a reader goes down the file once.
  const fileOrder = { residents: 0, devices: 1 };
  errors.sort((a, b) => fileOrder[a.file] - fileOrder[b.file] || a.line - b.line);
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

  // Each new MQTT device's secret, hashed before the transaction and side by side: one at a time,
  // in it, a 20,000-device file held the import lock some 13 minutes for scrypt alone.
  const issued = new Map<string, { secret: string; hash: string }>();
  if (authority) {
    await Promise.all(
      goodDevices
        .filter((d) => !d.existing && d.body.protocol === 'mqtt')
        .map(async ({ body: device }) => {
          const secret = newSecret();
          issued.set(device.serial, { secret, hash: await hashSecretAsync(secret) });
        }),
    );
  }
  // Secrets go into the broker before the commit, as for one registration; if the broker refuses
  // one, or the commit fails, the ones already installed are taken out again: nothing half-written.
  const installed: string[] = [];
  const republish = new Set<string>();
  try {
    await writing(store.pool, db, async (client) => {
      /** A row refused as it is written: the whole import, or with `importValid` that row alone. */
      const refuse = (error: ImportError) => {
        if (!body.importValid) throw new RowRefused(error);
        result.errors.push(error);
      };
      const ids = new Map<string, string>();
      const fresh: Array<{ ref: string; line: number; resident: CreateResidentBody }> = [];
      for (const [ref, { line, body: resident, existing: found }] of goodResidents) {
        if (!found) {
          fresh.push({ ref, line, resident });
          continue;
        }
        ids.set(ref, found.id);
        const fields = Object.keys(found.patch);
        if (fields.length > 0) {
          const { serials: theirs } = await store.updateResident(found.id, found.patch, now, client);
          for (const serial of theirs) republish.add(serial);
        }
        result.residents.push({
          line,
          ref,
          id: found.id,
          action: fields.length > 0 ? 'updated' : 'unchanged',
          fields,
        });
      }
      // New residents in bulk; a ref another registration took since the check is refused on its line.
      const unwritten = new Set<string>();
      const residentsWritten = await store.insertResidents(
        client,
        fresh.map((r) => r.resident),
        now,
      );
      for (const [i, { ref, line }] of fresh.entries()) {
        const written = residentsWritten[i]!;
        if ('heldBy' in written) {
          refuse({
            file: 'residents',
            line,
            field: 'ref',
            message: `reference ${ref} is already used by ${written.heldBy}, registered while the file was checked`,
          });
          unwritten.add(ref);
          continue;
        }
        ids.set(ref, written.row.id);
        result.residents.push({ line, ref, id: written.row.id, action: 'created', fields: [] });
      }
      result.residents.sort((a, b) => a.line - b.line);

      const idOf = (target: Target): string | null =>
        target === null ? null : 'id' in target ? target.id : (ids.get(target.ref) ?? null);
      // Checked again against their rows as they are now, locked until the commit: a device paired,
      // put in a test call or decommissioned since the file was checked is not changed by it.
      const locked = await store.lockDeviceRows(
        client,
        goodDevices.filter((d) => d.existing).map((d) => d.body.serial),
      );
      const rows: Array<
        | { line: number; serial: string; action: 'updated' | 'unchanged'; fields: string[] }
        | { line: number; serial: string; action: 'created'; index: number }
      > = [];
      const created: Parameters<RegistryStore['insertDevices']>[1][number][] = [];
      for (const { line, target, body: device, existing: found } of goodDevices) {
        if (target !== null && 'ref' in target && unwritten.has(target.ref)) {
          refuse({
            file: 'devices',
            line,
            field: 'resident',
            message: `resident ${target.ref} has errors in residents.csv`,
          });
          continue;
        }
        if (!found) {
          const login = issued.get(device.serial);
          rows.push({ line, serial: device.serial, action: 'created', index: created.length });
          created.push({
            input: { ...device, residentId: idOf(target) },
            ...(login ? { credentialHash: login.hash, credentialSecret: login.secret } : {}),
          });
          continue;
        }
        const { patch, problem } = deviceChanges(
          store,
          locked.get(device.serial)!,
          device,
          found.values,
          idOf(target),
        );
        if (problem) {
          refuse({ file: 'devices', line, ...problem });
          continue;
        }
        const fields = Object.keys(patch).map((f) => (f === 'residentId' ? 'resident' : f));
        if (fields.length > 0) {
          try {
            await store.updateDevice(device.serial, patch, now, client);
          } catch (err) {
            // Given since the check to another device: refused before the row was written.
            if (!(err instanceof RefusedError && err.code === 'shared-dc09-key')) throw err;
            refuse({ file: 'devices', line, field: 'dc09Key', message: err.message });
            continue;
          }
        }
        rows.push({
          line,
          serial: device.serial,
          action: fields.length > 0 ? 'updated' : 'unchanged',
          fields,
        });
      }
      // New devices in bulk; one whose serial or account was registered since the check, or whose
      // resident is gone, is refused on its line as a registration would be.
      const devicesWritten = await store.insertDevices(client, created, now);
      for (const row of rows) {
        if (row.action !== 'created') {
          result.devices.push(row);
          if (row.action === 'updated') republish.add(row.serial);
          continue;
        }
        const { line, serial, index } = row;
        const written = devicesWritten[index]!;
        if ('refused' in written) {
          refuse({ file: 'devices', line, ...devicesRefusal(created[index]!.input, written) });
          continue;
        }
        result.devices.push({ line, serial, action: 'created', fields: [] });
        republish.add(serial);
        const login = issued.get(serial);
        if (login) result.credentials.push({ serial, username: serial, secret: login.secret });
      }
      result.errors.sort((a, b) => fileOrder[a.file] - fileOrder[b.file] || a.line - b.line);
      await authority?.installMany(result.credentials, (serials) => installed.push(...serials));
    });
  } catch (err) {
    for (const serial of installed) await authority!.revoke(serial).catch(() => undefined);
    // Refused as the file would have been, had it been checked a moment later: nothing written.
    if (err instanceof RowRefused)
      return { ...result, residents: [], devices: [], credentials: [], errors: [err.error] };
    throw err;
  }
  result.serials = [...republish];
  result.imported = true;
  return result;
}

/**
 * The import's writes: in a transaction of their own, or in the caller's (an Idempotency-Key's)
 * under a savepoint, so that a row refused as it is written still undoes the rows before it.
 */
async function writing<T>(
  pool: Pool,
  db: PoolClient | undefined,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  if (!db) return withTransaction(pool, work);
  await db.query('savepoint import_write');
  try {
    const done = await work(db);
    await db.query('release savepoint import_write');
    return done;
  } catch (err) {
    await db.query('rollback to savepoint import_write');
    throw err;
  }
}

/**
 * What an import's `Idempotency-Key` compares a repeat by: both files read as rows, each row's
 * cells with the sealed columns' (key-safe code, medical summary, DC-09 key) values left out, only
 * whether they were filled, and what reading them found wrong. A hash of the text itself would give
 * a key-safe code away to whoever holds the rest of the row.
 */
export function importFingerprinted(body: ImportBody): unknown {
  const errors: ImportError[] = [];
  const rows = (file: ImportError['file'], text: string | undefined, columns: Columns) =>
    text === undefined
      ? null
      : readCsv(file, text, columns, errors).map((row) => ({ ...row, values: withoutSealed(row.values) }));
  return {
    residents: rows('residents', body.residents, RESIDENT_COLUMNS),
    devices: rows('devices', body.devices, DEVICE_COLUMNS),
    importValid: body.importValid,
    errors,
  };
}

/** A new device's row refused as it was written: registered, or its resident gone, since the check. */
function devicesRefusal(device: NewDevice, why: DeviceNotWritten): { field: string; message: string } {
  switch (why.refused) {
    case 'unknown-resident':
      return { field: 'resident', message: `unknown resident ${device.residentId}` };
    case 'duplicate-serial':
      return {
        field: 'serial',
        message: `serial ${device.serial} was registered${why.registered === device.serial ? '' : ` as ${why.registered}`} while the file was checked`,
      };
    case 'duplicate-dc09-account':
      return { field: 'dc09Account', message: `DC-09 account ${device.dc09Account} is already in use` };
    case 'shared-dc09-key':
      return { field: 'dc09Key', message: sharedKeyProblem(`device ${why.heldBy}`) };
  }
}

/** A row the write found refused by a change committed after the file was checked. */
class RowRefused extends Error {
  constructor(readonly error: ImportError) {
    super(error.message);
  }
}
