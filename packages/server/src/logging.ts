import { createHmac } from 'node:crypto';
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';

/** A keyed, short, non-reversible fingerprint of an id or token for log lines. */
export type Fingerprint = (value: string) => string;

/** Fingerprints keyed by a server secret: 12 base64url characters of HMAC-SHA-256. */
export function createFingerprint(key: Uint8Array): Fingerprint {
  return (value) => createHmac('sha256', key).update(value, 'utf8').digest('base64url').slice(0, 12);
}

/**
 * The server's JSON logger. Headers that carry credentials are removed before
 * anything is written, as a second line of defence: the request serializer
 * below never includes them in the first place.
 */
export function createServerLogger(level: string, destination?: DestinationStream): PinoLogger {
  return pino(
    {
      level,
      base: { service: 'tessera' },
      redact: {
        paths: [
          'req.headers.cookie',
          'req.headers.authorization',
          'req.headers["x-csrf-token"]',
          'res.headers["set-cookie"]',
          '*.password',
          '*.token',
          '*.refresh_token',
          '*.access_token',
        ],
        remove: true,
      },
    },
    destination,
  );
}
