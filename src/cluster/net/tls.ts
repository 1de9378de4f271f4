/**
 * Mutual TLS on the cluster's TCP port (docs/CLUSTER.md#tls-on-the-cluster-port): every node
 * presents its certificate and accepts only peers whose certificate the cluster's CA signed,
 * in both directions. The peer's host name is not checked — members reach each other by
 * address, and a certificate per address would make moving a node a re-issue — the CA is the
 * identity: a certificate it signed is a member's. The cluster key's handshake still runs
 * inside, so TLS adds confidentiality and a second, independent authentication.
 *
 * How: the server requests and verifies the client's certificate (`requestCert`,
 * `rejectUnauthorized`). Bun's client always checks the host name too (it does not take
 * `checkServerIdentity` on sockets), so the client connects with `rejectUnauthorized: false`
 * and judges the handshake itself (`peerVerified`): a chain the CA did not sign fails with its
 * own error (UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED …),
 * which BoringSSL reports before any host name check; only ERR_TLS_CERT_ALTNAME_INVALID —
 * the chain verified, the name did not match — is let through.
 */
import fs from "node:fs";
import { StemeError } from "../../core/errors.ts";

export interface ClusterTlsFiles {
  certPath: string;
  keyPath: string;
  caPath: string;
}

/** Bun's TLS options for each side. */
export interface ClusterTls {
  server: { cert: string; key: string; ca: string; requestCert: true; rejectUnauthorized: true };
  client: { cert: string; key: string; ca: string; rejectUnauthorized: false };
}

function readPem(file: string, flag: string, what: RegExp): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new StemeError("bad_config", `--${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!what.test(text)) throw new StemeError("bad_config", `--${flag}: ${file} holds no PEM ${what.source.replace(/\\/g, "")}`);
  return text;
}

/** Reads the three PEM files once, at start. */
export function loadClusterTls(files: ClusterTlsFiles): ClusterTls {
  const cert = readPem(files.certPath, "cluster-tls-cert", /-----BEGIN CERTIFICATE-----/);
  const key = readPem(files.keyPath, "cluster-tls-key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  const ca = readPem(files.caPath, "cluster-tls-ca", /-----BEGIN CERTIFICATE-----/);
  return {
    server: { cert, key, ca, requestCert: true, rejectUnauthorized: true },
    client: { cert, key, ca, rejectUnauthorized: false },
  };
}

/** Whether a TLS handshake's outcome means the peer's certificate chains to our CA (see above). */
export function peerVerified(authorizationError: Error | null): boolean {
  if (authorizationError === null) return true;
  return (authorizationError as Error & { code?: string }).code === "ERR_TLS_CERT_ALTNAME_INVALID";
}
