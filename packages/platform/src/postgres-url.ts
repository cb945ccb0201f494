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

/** Reads a PostgreSQL URL of one host or several (libpq's form); throws `PostgresUrlError`. */
export function parsePostgresUrl(url: string): PostgresTarget {
  const match = SCHEME_AND_AUTHORITY.exec(url.trim());
  if (!match) throw new PostgresUrlError('must be a URL with scheme postgres: or postgresql:');
  const [, scheme = '', authority = '', rest = ''] = match;
  // A password may hold an `@` of its own: the host list starts after the last one.
  const at = authority.lastIndexOf('@');
  const userinfo = authority.slice(0, at + 1);
  const hostList = authority.slice(at + 1);
  const { query, attrs } = withoutAttrs(rest);
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
