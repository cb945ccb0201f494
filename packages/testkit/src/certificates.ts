import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** PEM files of a throwaway CA, a server certificate it signed, and a CA that signed nothing here. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed `cert`. */
  readonly ca: string;
  /** A CA of its own, which signed no server here: a client trusting it alone refuses every server. */
  readonly otherCa: string;
  /**
   * The server's certificate, naming only the `names` it was made for; good for client
   * authentication too, as a NATS node presents it on the routes it opens.
   */
  readonly cert: string;
  readonly key: string;
  remove(): void;
}

const openssl = (args: readonly string[]): void => {
  execFileSync('openssl', [...args], { stdio: 'pipe' });
};

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

/**
 * Makes, with the `openssl` CLI, a CA and a server certificate it signed for `names` (subject
 * alternative names: `IP:127.0.0.1`, `DNS:localhost`), and another CA, in a temporary folder.
 * Elliptic-curve keys: quick to make, and taken by every server of the project.
 */
export function makeTestCertificates(names: readonly string[] = ['IP:127.0.0.1']): TestCertificates {
  const dir = mkdtempSync(path.join(tmpdir(), 'telecare-tls-'));
  // Servers started as another OS user (PostgreSQL's) copy the files from here.
  chmodSync(dir, 0o755);
  const ca = makeCa(dir, 'telecare-test-ca');
  const otherCa = makeCa(dir, 'telecare-other-ca');
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  const request = path.join(dir, 'server.csr');
  const extensions = path.join(dir, 'server.ext');
  writeFileSync(
    extensions,
    [
      `subjectAltName=${names.join(',')}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  openssl([
    'req',
    '-new',
    ...EC_KEY,
    '-keyout',
    key,
    '-out',
    request,
    '-subj',
    `/CN=${names[0] ?? 'server'}`,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    extensions,
  ]);
  chmodSync(key, 0o644);
  return {
    dir,
    ca: ca.cert,
    otherCa: otherCa.cert,
    cert,
    key,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
