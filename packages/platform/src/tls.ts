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
