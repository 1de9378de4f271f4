/**
 * `host:port` as the cluster writes addresses (docs/CLUSTER.md#starting-a-cluster): an IPv6 host
 * goes in brackets (`[::1]:18182`), as in URLs (RFC 3986 §3.2.2), so the last colon always
 * separates the port.
 */
import net from "node:net";

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, or `host` alone with `defaultPort`; throws RangeError naming what was expected. */
export function parseHostPort(text: string, defaultPort?: number): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const host = m ? ((m[1] ?? m[2]) as string) : "";
  const port = m?.[3] !== undefined ? Number(m[3]) : defaultPort;
  if (!m || port === undefined || !Number.isInteger(port) || port < 0 || port > 65_535)
    throw new RangeError(
      `expected HOST:PORT${defaultPort === undefined ? "" : " or HOST"} (an IPv6 host in brackets: [::1]:18182), got ${JSON.stringify(text)}`,
    );
  return { host, port };
}

/** The text form: IPv6 hosts bracketed. */
export function formatHostPort(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** A wildcard bind address (every interface), which peers cannot be told to reach. */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}
