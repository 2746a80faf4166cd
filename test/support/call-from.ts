import { request as httpRequest } from 'node:http';

/** The answer to {@link callFrom}. */
export interface CallFromResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  json: any;
  /** `name=value` of every cookie the response set. */
  setCookies: string[];
}

/**
 * One JSON request from a chosen loopback address (anything in 127.0.0.0/8),
 * so a test can play many clients with distinct IPs against a server that
 * reads the socket address, and keep its own per-IP counters apart from
 * every other test's.
 */
export function callFrom(
  baseURL: string,
  localAddress: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<CallFromResult> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const url = new URL(baseURL);
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method,
        localAddress,
        headers: {
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
          ...options.headers,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let json: unknown = null;
          try {
            json = text === '' ? null : JSON.parse(text);
          } catch {
            json = null;
          }
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            json,
            setCookies: (response.headers['set-cookie'] ?? []).map((value) => value.split(';')[0]!),
          });
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** A random loopback address for one test's clients. */
export function loopbackAddress(): string {
  const byte = (): number => 1 + Math.floor(Math.random() * 250);
  return `127.${byte()}.${byte()}.${byte()}`;
}
