// etcd's TLS vocabulary, translated for Node's TLS (OpenSSL): --cipher-suites takes Go's cipher
// suite names (crypto/tls CipherSuites() and InsecureCipherSuites() of Go 1.19, which etcd 3.4.23
// is built with, plus the two CHACHA20 aliases etcd's tlsutil.GetCipherSuite adds), and etcd 3.5's
// --tls-min-version/--tls-max-version take "TLS1.2"/"TLS1.3". Pure functions; config.ts turns a
// problem into a ConfigError with etcd's message.

/**
 * Go's name → OpenSSL's name. `tls13`: a TLS 1.3 suite, which Go accepts in the list but never
 * restricts ("TLS 1.3 ciphersuites are not configurable"), so neither does kv. `unavailable`: Go
 * knows it but Node's OpenSSL 3 does not offer it (RC4, 3DES); naming it refuses to start.
 */
const goSuites: Record<string, string | { tls13: true } | { unavailable: true }> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_AES_128_GCM_SHA256: { tls13: true },
  TLS_AES_256_GCM_SHA384: { tls13: true },
  TLS_CHACHA20_POLY1305_SHA256: { tls13: true },
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  // Go's InsecureCipherSuites()
  TLS_RSA_WITH_RC4_128_SHA: { unavailable: true },
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: { unavailable: true },
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: { unavailable: true },
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: { unavailable: true },
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: { unavailable: true },
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
};

/** Every TLS 1.3 suite stays on whatever --cipher-suites says, as with Go. */
const tls13Suites = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

/** Why `names` cannot be used as --cipher-suites (etcd's message for an unknown name), or undefined. */
export function cipherSuitesProblem(names: readonly string[]): string | undefined {
  for (const n of names) {
    const s = goSuites[n];
    if (s === undefined) return `unexpected TLS cipher suite ${JSON.stringify(n)}`;
    if (typeof s === 'object' && 'unavailable' in s)
      return `TLS cipher suite ${JSON.stringify(n)} is not available in kvd (OpenSSL 3 has no RC4 or 3DES suites)`;
  }
  return undefined;
}

/**
 * Node's `ciphers` option for --cipher-suites `names` (already checked), in their order;
 * undefined for an empty list (the TLS library's defaults). TLS 1.3 suites are always all on.
 */
export function opensslCiphers(names: readonly string[] | undefined): string | undefined {
  if (!names || names.length === 0) return undefined;
  const tls12 = names.map((n) => goSuites[n]).filter((s): s is string => typeof s === 'string');
  return [...new Set(tls12), tls13Suites].join(':');
}

/** etcd 3.5's version names → Node's. '' (the max default) means the highest Node has. */
const versions: Record<string, 'TLSv1.2' | 'TLSv1.3' | undefined> = { '': undefined, 'TLS1.2': 'TLSv1.2', 'TLS1.3': 'TLSv1.3' };

/** Why `v` is not a version etcd 3.5 takes (its message), or undefined. */
export function tlsVersionProblem(v: string): string | undefined {
  return v in versions ? undefined : `unexpected TLS version ${JSON.stringify(v)} (must be one of: TLS1.2, TLS1.3)`;
}

/** Node's minVersion/maxVersion for etcd 3.5's --tls-min-version/--tls-max-version (checked). */
export function nodeTlsVersions(
  min: string | undefined,
  max: string | undefined,
): { minVersion: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } {
  const minVersion = versions[min || 'TLS1.2'] ?? 'TLSv1.2';
  const maxVersion = versions[max ?? ''];
  return maxVersion ? { minVersion, maxVersion } : { minVersion };
}

/**
 * etcd 3.5's embed.Config checks of the versions and suites together (its messages), and 3.4's
 * TLSInfo.baseConfig check of the allowed CN/hostname; undefined when they go together.
 */
export function tlsCombinationProblem(t: {
  minVersion?: string;
  maxVersion?: string;
  cipherSuites?: readonly string[];
  allowedCn?: string;
  allowedHostname?: string;
}): string | undefined {
  const min = t.minVersion || 'TLS1.2';
  const max = t.maxVersion ?? '';
  const p = tlsVersionProblem(min) ?? tlsVersionProblem(max) ?? cipherSuitesProblem(t.cipherSuites ?? []);
  if (p) return p;
  if (max !== '' && min === 'TLS1.3' && max === 'TLS1.2') return `min version (${min}) is greater than max version (${max})`;
  if (min === 'TLS1.3' && (t.cipherSuites ?? []).length > 0) return 'cipher suites cannot be configured when only TLS1.3 is enabled';
  if (t.allowedCn && t.allowedHostname)
    return `AllowedCN and AllowedHostname are mutually exclusive (cn=${JSON.stringify(t.allowedCn)}, hostname=${JSON.stringify(t.allowedHostname)})`;
  return undefined;
}
