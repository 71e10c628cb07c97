// The serial numbers a certificate revocation list revokes, for --client-crl-file and
// --peer-crl-file. etcd 3.4 (pkg/transport/listener_tls.go checkCRL) reads the file on every
// connection, parses it with x509.ParseCRL (PEM "X509 CRL" or DER) and refuses a connection when
// the serial number of any certificate the peer presented is listed; it checks neither the CRL's
// signature nor its dates, nor the issuer of an entry. kv does the same, so a CRL that works with
// etcd works here. The parser below reads only what that needs: the DER structure down to
// tbsCertList.revokedCertificates[*].userCertificate (RFC 5280 5.1), with every length checked.

/** Serial numbers as lowercase hex without leading zeros ("" for zero), as compared with a certificate's. */
export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+/, '');
}

interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // one past the last content byte
}

function readTlv(b: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new Error('CRL: truncated DER');
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error('CRL: bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error('CRL: DER length past the end');
  return { tag, start, end };
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** The DER bytes of a CRL file: the first PEM "X509 CRL" block, or the file itself (DER), as Go's ParseCRL. */
function crlDer(file: Buffer): Buffer {
  const text = file.toString('latin1');
  const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(text);
  if (m) return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  if (text.includes('-----BEGIN')) throw new Error('CRL: no "X509 CRL" PEM block');
  return file;
}

/** The revoked serial numbers of a CRL file (PEM or DER), normalized; throws on a malformed CRL. */
export function revokedSerials(file: Buffer): Set<string> {
  const der = crlDer(file);
  const outer = readTlv(der, 0, der.length);
  if (outer.tag !== SEQUENCE) throw new Error('CRL: not a DER SEQUENCE');
  const tbs = readTlv(der, outer.start, outer.end);
  if (tbs.tag !== SEQUENCE) throw new Error('CRL: tbsCertList is not a SEQUENCE');
  let at = tbs.start;
  const next = () => {
    const t = readTlv(der, at, tbs.end);
    at = t.end;
    return t;
  };
  let t = next();
  if (t.tag === INTEGER) t = next(); // version
  if (t.tag !== SEQUENCE) throw new Error('CRL: signature algorithm missing');
  t = next();
  if (t.tag !== SEQUENCE) throw new Error('CRL: issuer missing');
  t = next();
  if (t.tag !== UTC_TIME && t.tag !== GENERALIZED_TIME) throw new Error('CRL: thisUpdate missing');
  const out = new Set<string>();
  if (at >= tbs.end) return out;
  t = next();
  if (t.tag === UTC_TIME || t.tag === GENERALIZED_TIME) {
    if (at >= tbs.end) return out;
    t = next(); // after nextUpdate
  }
  if (t.tag !== SEQUENCE) return out; // [0] crlExtensions: no revoked certificates
  for (let e = t.start; e < t.end; ) {
    const entry = readTlv(der, e, t.end);
    if (entry.tag !== SEQUENCE) throw new Error('CRL: revoked entry is not a SEQUENCE');
    const serial = readTlv(der, entry.start, entry.end);
    if (serial.tag !== INTEGER) throw new Error('CRL: revoked entry without a serial number');
    out.add(normalizeSerial(der.subarray(serial.start, serial.end).toString('hex')));
    e = entry.end;
  }
  return out;
}
