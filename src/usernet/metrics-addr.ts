// `--metrics ADDR`: where the translator's Prometheus endpoint listens — loopback or a unix socket only. Pure.
import { parseIpv4 } from '../wire/common.js';

/** Where the endpoint listens. */
export type MetricsAddr =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/**
 * Parses `--metrics ADDR`.
 *
 * @returns The address, or a one-line reason it is refused.
 */
export function parseMetricsAddr(text: string): MetricsAddr | string {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    return path === '' ? `invalid --metrics '${text}': unix: needs a path` : { kind: 'unix', path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const usage = `(use 127.0.0.1:PORT, [::1]:PORT or unix:PATH)`;
  if (!m) return `invalid --metrics '${text}' ${usage}`;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `invalid --metrics port in '${text}' (1 to 65535)`;
  const v4 = m[2] !== undefined ? parseIpv4(host) : undefined;
  const loopback = (v4 !== undefined && v4[0] === 127) || (m[1] !== undefined && host === '::1');
  if (!loopback) return `--metrics '${text}': not a loopback address ${usage}`;
  return { kind: 'tcp', host, port };
}

/** `ADDR` as a URL or a socket path, for the log. */
export function metricsWhere(a: MetricsAddr): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  return a.host.includes(':')
    ? `http://[${a.host}]:${a.port}/metrics`
    : `http://${a.host}:${a.port}/metrics`;
}
