// Certificates for TLS tests, made by the openssl CLI: certificate authorities and leaf
// certificates signed by them, each usable as server and as client (serverAuth + clientAuth),
// valid for 127.0.0.1 and localhost for one day. Written to a directory the test owns.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Why the openssl CLI cannot be used here (for `describe.skipIf`), or undefined when it can. */
export function opensslUnavailable(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'the openssl CLI is not installed';
  }
}

export interface TestCertsOptions {
  /** Certificate authorities to make (default ["ca"]). */
  cas?: readonly string[];
  /** Leaf certificates to make, each signed by `ca` (default: the first CA); default member and client. */
  certs?: readonly TestLeaf[];
}

/** A leaf certificate to make. */
export interface TestLeaf {
  name: string;
  /** The CA that signs it (default: the first CA). */
  ca?: string;
  /** Its subject (default `/CN=<name>`; e.g. `/O=kv` for a certificate without a common name). */
  subject?: string;
  /** Its subjectAltName (default `IP:127.0.0.1,DNS:localhost`). */
  san?: string;
}

/** A certificate on disk and in memory: `<dir>/<name>.crt`, `<dir>/<name>.key`, and its CA's `<ca>.crt`. */
export interface TestCert {
  name: string;
  certFile: string;
  keyFile: string;
  /** The certificate of the CA that signed it (for a CA: itself). */
  caFile: string;
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface TestCerts {
  readonly dir: string;
  /** The CA or leaf certificate called `name`; throws for a name not made. */
  get(name: string): TestCert;
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

/**
 * Makes the CAs and certificates of `opts` in `dir` (which must exist; the caller removes it).
 * Names must be distinct across CAs and leaves (they name the files).
 */
export function makeTestCerts(dir: string, opts: TestCertsOptions = {}): TestCerts {
  const cas = opts.cas ?? ['ca'];
  if (cas.length === 0) throw new RangeError('makeTestCerts: at least one CA');
  const leaves = opts.certs ?? [{ name: 'member' }, { name: 'client' }];
  const names = [...cas, ...leaves.map((l) => l.name)];
  if (new Set(names).size !== names.length) throw new Error(`makeTestCerts: names must be distinct, got ${names.join(', ')}`);
  const p = (s: string) => join(dir, s);
  const made = new Map<string, TestCert>();
  const load = (name: string, ca: string): TestCert => ({
    name,
    certFile: p(`${name}.crt`),
    keyFile: p(`${name}.key`),
    caFile: p(`${ca}.crt`),
    cert: readFileSync(p(`${name}.crt`)),
    key: readFileSync(p(`${name}.key`)),
    ca: readFileSync(p(`${ca}.crt`)),
  });
  for (const ca of cas) {
    openssl(['req', '-x509', ...ecKey, '-keyout', p(`${ca}.key`), '-out', p(`${ca}.crt`), '-days', '1', '-subj', `/CN=${ca}`]);
    made.set(ca, load(ca, ca));
  }
  for (const leaf of leaves) {
    const ca = leaf.ca ?? cas[0]!;
    if (!cas.includes(ca)) throw new Error(`makeTestCerts: ${leaf.name} names an unknown CA ${ca}`);
    const { name } = leaf;
    openssl(['req', ...ecKey, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', leaf.subject ?? `/CN=${name}`]);
    writeFileSync(p(`${name}.ext`), `subjectAltName=${leaf.san ?? 'IP:127.0.0.1,DNS:localhost'}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl([
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p(`${ca}.crt`),
      '-CAkey',
      p(`${ca}.key`),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      p(`${name}.ext`),
    ]);
    made.set(name, load(name, ca));
  }
  return {
    dir,
    get: (name) => {
      const c = made.get(name);
      if (c === undefined) throw new Error(`makeTestCerts: no certificate ${name} (made: ${[...made.keys()].join(', ')})`);
      return c;
    },
  };
}

/**
 * A certificate revocation list of `ca` (a CA of `certs`) revoking the leaves `revoked` (possibly
 * none), made by `openssl ca -revoke`/`-gencrl` with a database in `certs.dir`; returns the CRL's
 * PEM path `<dir>/<file>`.
 */
export function makeTestCrl(certs: TestCerts, ca: string, revoked: readonly string[], file = `${ca}.crl`): string {
  const p = (s: string) => join(certs.dir, s);
  const db = p(`${file}.index.txt`);
  writeFileSync(db, '');
  writeFileSync(p(`${file}.crlnumber`), '01\n');
  writeFileSync(
    p(`${file}.cnf`),
    `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${db}\ncrlnumber = ${p(`${file}.crlnumber`)}\ndefault_md = sha256\ndefault_crl_days = 1\n`,
  );
  const c = certs.get(ca);
  for (const name of revoked) {
    openssl(['ca', '-config', p(`${file}.cnf`), '-revoke', certs.get(name).certFile, '-keyfile', p(`${ca}.key`), '-cert', c.certFile]);
  }
  openssl(['ca', '-config', p(`${file}.cnf`), '-gencrl', '-keyfile', p(`${ca}.key`), '-cert', c.certFile, '-out', p(file)]);
  return p(file);
}
