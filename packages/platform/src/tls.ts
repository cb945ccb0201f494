import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The deployment's own CA (TELECARE_TLS_CA), read once at start-up: the only CA the servers'
 * certificates are verified against, in place of the public ones Node trusts by default (a
 * certificate any public CA issued for the name would not do). Every factory takes it: pg (as
 * libpq's `sslrootcert`), ioredis (the data connection and the Sentinels'), nats.js, mqtt.js.
 */
export interface TlsCa {
  /** The PEM file, as named by the setting. */
  readonly file: string;
  /** Its content: one certificate, or a bundle. */
  readonly pem: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A CA file that cannot be used; the message says why, for the setting that names it. */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';
}

/** Reads a PEM file of one certificate or several; throws `TlsFileError`. */
export function readCaFile(file: string): TlsCa {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsFileError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const certificates = pem.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0)
    throw new TlsFileError(`${file} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const certificate of certificates) {
    try {
      new X509Certificate(certificate);
    } catch (err) {
      throw new TlsFileError(
        `${file} holds a PEM certificate that cannot be read: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  return { file, pem };
}

/** TELECARE_TLS_CA: a PEM file, read and checked when the configuration is. */
export const tlsCaFile = z
  .string()
  .min(1, 'must name a PEM file of the CA that signed the servers’ certificates')
  .transform((file, ctx): TlsCa => {
    try {
      return readCaFile(file);
    } catch (err) {
      if (!(err instanceof TlsFileError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });

const warned = new Set<string>();

/** Names that reach this machine alone: a plaintext connection to them crosses no network. */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i;

/** Whether a host (as a URL names it) is this machine. */
export const isLoopback = (host: string): boolean => LOOPBACK.test(host.trim());

/**
 * The hosts beyond this machine a setting reaches without TLS: for the "NOT ENCRYPTED" warning a
 * service logs once as it connects (`warnPlaintext`). Loopback, as in development and the tests,
 * is never named; nor is anything that cannot be read (the configuration refuses it already).
 */
export function plaintextHosts(urls: readonly string[], secure: (url: URL) => boolean): string[] {
  const hosts: string[] = [];
  for (const one of urls) {
    const url = URL.parse(one.trim());
    if (!url || secure(url) || url.hostname === '' || isLoopback(url.hostname)) continue;
    hosts.push(url.host);
  }
  return hosts;
}

/**
 * Logs once, as a warning, that a setting reaches servers beyond this machine in plaintext:
 * resident data (events, alerts, cases, device secrets) would cross the network readable by anyone
 * on the path. Said, not refused: a private network may be trusted on purpose.
 */
export function warnPlaintext(
  logger: { warn: (fields: object, message: string) => void },
  setting: string,
  hosts: readonly string[],
  needs: string,
): void {
  const said = `${setting} ${hosts.join(',')}`;
  // Once a process: a service with several pools (or clients) of one setting says it once.
  if (hosts.length === 0 || warned.has(said)) return;
  warned.add(said);
  logger.warn(
    { setting, hosts, needs },
    `NOT ENCRYPTED: ${setting} reaches ${hosts.join(', ')} without TLS; production needs ${needs}: resident data crosses the network readable by anyone on the path`,
  );
}
