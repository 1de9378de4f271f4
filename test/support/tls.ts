/**
 * Test certificates made with openssl: a CA and the certificates it signed (EC P-256, a day),
 * for the TLS tests (HTTPS, the cluster's mutual TLS, the nginx example).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export interface TestCert {
  cert: string;
  key: string;
  /** The signing CA's certificate. */
  ca: string;
}

/** P-256 key arguments of `openssl req`, for every test certificate. */
const p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/**
 * A self-signed certificate (a day) and its key, written to `cert` and `key`; `extra` are more
 * `openssl req` arguments (e.g. `-addext subjectAltName=…`).
 */
export function selfSigned(paths: { cert: string; key: string }, subject: string, extra: string[] = []): void {
  execFileSync(
    "openssl",
    ["req", "-x509", ...p256, "-keyout", paths.key, "-out", paths.cert, "-days", "1", "-subj", subject, ...extra],
    { stdio: "ignore" },
  );
}

/** A CA and a certificate it signed for each name, made with openssl (EC P-256). */
export function makeCa(dir: string, caName: string, names: string[]): Record<string, TestCert> {
  const run = (args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  const caKey = join(dir, `${caName}.key`);
  const caCert = join(dir, `${caName}.pem`);
  selfSigned({ cert: caCert, key: caKey }, `/CN=${caName}`);
  const out: Record<string, TestCert> = {};
  for (const name of names) {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    run(["req", ...p256, "-keyout", key, "-out", csr, "-subj", `/CN=${name}`]);
    run(["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "1"]);
    out[name] = { cert, key, ca: caCert };
  }
  return out;
}
