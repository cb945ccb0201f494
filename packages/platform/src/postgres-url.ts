/**
 * libpq's multi-host connection URL, which node-postgres does not read:
 * `postgresql://user@db1:5432,db2:5432/telecare?target_session_attrs=read-write`. The hosts are
 * tried in order; with `read-write` (or its synonym `primary`) one that is read-only (a standby)
 * is passed over, with `any` (the default) the first that connects is taken.
 */

/** What a connection asks of the host it takes (libpq's `target_session_attrs`). */
export type TargetSessionAttrs = 'any' | 'read-write';

export interface PostgresHost {
  /** `host:port` as the URL names it (IPv6 in brackets), for logs and errors. */
  readonly label: string;
  /** The URL with this host alone, which node-postgres reads. */
  readonly url: string;
}

export interface PostgresTarget {
  /** In the URL's order; one for a URL of one host. */
  readonly hosts: readonly PostgresHost[];
  readonly targetSessionAttrs: TargetSessionAttrs;
}

/** A DATABASE_URL that cannot be read; the message names the part at fault, never a password. */
export class PostgresUrlError extends Error {
  override readonly name = 'PostgresUrlError';
}

const SCHEME_AND_AUTHORITY = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/is;
/** A name or address, IPv6 in brackets, with an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::(\d{1,5}))?$/;
const ATTRS: Readonly<Record<string, TargetSessionAttrs>> = {
  any: 'any',
  'read-write': 'read-write',
  primary: 'read-write',
};

/**
 * Reads a PostgreSQL URL of one host or several (libpq's form); throws `PostgresUrlError`.
 * `caFile` (TELECARE_TLS_CA) is each host's `sslrootcert` where the URL asks for TLS and names none.
 */
export function parsePostgresUrl(url: string, options: { caFile?: string | undefined } = {}): PostgresTarget {
  const match = SCHEME_AND_AUTHORITY.exec(url.trim());
  if (!match) throw new PostgresUrlError('must be a URL with scheme postgres: or postgresql:');
  const [, scheme = '', authority = '', rest = ''] = match;
  // A password may hold an `@` of its own: the host list starts after the last one.
  const at = authority.lastIndexOf('@');
  const userinfo = authority.slice(0, at + 1);
  const hostList = authority.slice(at + 1);
  const { query, attrs } = withRootCert(withoutAttrs(rest), options.caFile);
  const labels = hostList === '' ? [''] : hostList.split(',').map((one) => one.trim());
  const hosts = labels.map((label): PostgresHost => {
    if (label === '' && labels.length > 1) throw new PostgresUrlError('names an empty host in its host list');
    if (label !== '' && !isHostPort(label))
      throw new PostgresUrlError(
        `"${label}" is not host:port (several hosts: postgresql://user@db1:5432,db2:5432/name)`,
      );
    const one = `${scheme}${userinfo}${label}${query}`;
    try {
      new URL(one);
    } catch {
      throw new PostgresUrlError(label ? `is not a URL with host "${label}"` : 'is not a URL');
    }
    // No host: node-postgres's own default (PGHOST, else localhost).
    return { label: label || 'localhost', url: one };
  });
  return { hosts, targetSessionAttrs: attrs };
}

function isHostPort(label: string): boolean {
  const match = HOST.exec(label);
  const port = Number(match?.[1] ?? 5432);
  return match !== null && port >= 1 && port <= 65535;
}

/**
 * The TLS parameters node-postgres reads, as libpq's `sslmode` says them, and only the two whose
 * meaning is the same for both: `verify-full` (TLS, the certificate checked against `sslrootcert`
 * or TELECARE_TLS_CA, and the host's name in it) and `disable`. libpq's `prefer` and `allow` fall
 * back to plaintext, its `require` and `verify-ca` skip a check, where node-postgres checks all:
 * either reading would be wrong for some reader.
 */
const SSL_MODES = new Set(['verify-full', 'disable']);
/** Parameters that weaken or bypass `sslmode` in node-postgres. */
const SSL_OVERRIDES = ['ssl', 'uselibpqcompat'];
/** Files node-postgres reads from the URL (`sslrootcert`: a CA; the others: a client certificate). */
export const SSL_FILES = ['sslrootcert', 'sslcert', 'sslkey'] as const;

/** The URL's query parameters (the last of a name wins, as in node-postgres). */
export function postgresParams(url: string): URLSearchParams {
  const rest = SCHEME_AND_AUTHORITY.exec(url.trim())?.[3] ?? '';
  const beforeFragment = rest.split('#', 1)[0] ?? '';
  const question = beforeFragment.indexOf('?');
  return new URLSearchParams(question < 0 ? '' : beforeFragment.slice(question + 1));
}

/** The query, checked for its TLS parameters, with `sslrootcert=caFile` where TLS is asked without one. */
function withRootCert(parts: { query: string; attrs: TargetSessionAttrs }, caFile: string | undefined) {
  const params = postgresParams(`postgresql://h${parts.query}`);
  const mode = params.get('sslmode');
  if (mode !== null && !SSL_MODES.has(mode))
    throw new PostgresUrlError(
      `sslmode=${mode} is not taken here: verify-full (TLS, the server's certificate and name checked) or disable`,
    );
  const override = SSL_OVERRIDES.find((name) => params.has(name));
  if (override)
    throw new PostgresUrlError(
      `${override}= is not taken here: say sslmode=verify-full (or disable) instead`,
    );
  const file = SSL_FILES.find((name) => params.has(name));
  if (file && mode !== 'verify-full') throw new PostgresUrlError(`${file} needs sslmode=verify-full`);
  if (mode !== 'verify-full' || params.has('sslrootcert') || caFile === undefined) return parts;
  const [beforeFragment = '', fragment] = parts.query.split(/(?=#)/, 2);
  return {
    ...parts,
    query: `${beforeFragment}&sslrootcert=${encodeURIComponent(caFile)}${fragment ?? ''}`,
  };
}

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new PostgresUrlError('has a malformed %-escape in its query');
  }
};

/** The path, query and fragment without `target_session_attrs`, which is this module's to read. */
function withoutAttrs(rest: string): { query: string; attrs: TargetSessionAttrs } {
  const hash = rest.indexOf('#');
  const fragment = hash < 0 ? '' : rest.slice(hash);
  const beforeFragment = hash < 0 ? rest : rest.slice(0, hash);
  const question = beforeFragment.indexOf('?');
  if (question < 0) return { query: rest, attrs: 'any' };
  let attrs: TargetSessionAttrs = 'any';
  const kept = beforeFragment
    .slice(question + 1)
    .split('&')
    .filter((pair) => {
      const [key = '', value = ''] = pair.split('=');
      if (decoded(key) !== 'target_session_attrs') return true;
      const asked = decoded(value);
      const known = ATTRS[asked];
      if (!known)
        throw new PostgresUrlError(
          `target_session_attrs=${asked} is not one taken here: any, read-write or primary (the services write)`,
        );
      attrs = known;
      return false;
    });
  const path = beforeFragment.slice(0, question);
  return { query: `${path}${kept.length ? `?${kept.join('&')}` : ''}${fragment}`, attrs };
}
