import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { SESSION_BINDINGS, type SessionBinding } from 'tessera-auth';
import { TesseraError } from 'tessera-auth/errors';
import { readSecretsKey, type SecretsKey } from './secrets-at-rest.js';
import { checkWebhookURL, HOW_TO_MAKE_A_WEBHOOK_SECRET, parseWebhookSecret } from './webhooks/signing.js';
import type { ConfiguredWebhooks } from './webhooks/server-webhooks.js';

/** A whole-number variable with a default and bounds; `unit` names what it counts in the message. */
const wholeNumber = (
  name: string,
  fallback: number,
  { min = 1, max = Number.MAX_SAFE_INTEGER, unit }: { min?: number; max?: number; unit?: string } = {},
) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = Number(value);
      if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
        const range = max === Number.MAX_SAFE_INTEGER ? `, at least ${min}` : ` from ${min} to ${max}`;
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a whole number${unit === undefined ? '' : ` of ${unit}`}${range} (got "${value}")`,
        });
        return z.NEVER;
      }
      return parsed;
    });

const flag = (name: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '' || value === 'false' || value === '0') return false;
      if (value === 'true' || value === '1') return true;
      ctx.addIssue({ code: 'custom', message: `${name} must be "true" or "false" (got "${value}")` });
      return z.NEVER;
    });

/** A database location: `sqlite:<path>` or a `postgres://` URL. */
export type DatabaseLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Where sessions live: the database, this process's memory, Redis, or a Redis Cluster. */
export type SessionStoreLocation =
  | { kind: 'database' }
  | { kind: 'memory' }
  | { kind: 'redis'; url: string }
  | { kind: 'redis-cluster'; nodes: { host: string; port: number }[] };

const database = z
  .string()
  .optional()
  .transform((value, ctx): DatabaseLocation => {
    const raw = value === undefined || value.trim() === '' ? 'sqlite:./data/tessera.db' : value.trim();
    if (raw.startsWith('sqlite:') && raw.length > 'sqlite:'.length) return { kind: 'sqlite', path: raw.slice(7) };
    if (/^postgres(ql)?:\/\//.test(raw) && URL.canParse(raw)) return { kind: 'postgres', url: raw };
    ctx.addIssue({
      code: 'custom',
      message: `TESSERA_DATABASE must be sqlite:<path> or a postgres:// URL (got "${redactURL(raw)}")`,
    });
    return z.NEVER;
  });

const sessionStore = z
  .string()
  .optional()
  .transform((value, ctx): SessionStoreLocation => {
    const raw = value?.trim() ?? '';
    if (raw === '' || raw === 'database') return { kind: 'database' };
    if (raw === 'memory:') return { kind: 'memory' };
    if (/^rediss?:\/\//.test(raw) && URL.canParse(raw)) return { kind: 'redis', url: raw };
    if (raw.startsWith('redis-cluster://')) {
      const nodes: { host: string; port: number }[] = [];
      for (const node of raw.slice('redis-cluster://'.length).split(',')) {
        const match = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(node.trim());
        if (match?.[1] === undefined || Number(match[2]) > 65535) break;
        nodes.push({ host: match[1], port: Number(match[2]) });
      }
      if (nodes.length > 0 && nodes.length === raw.split(',').length) return { kind: 'redis-cluster', nodes };
    }
    ctx.addIssue({
      code: 'custom',
      message: `TESSERA_SESSION_STORE must be redis://…, redis-cluster://host:port[,host:port…], memory: or empty for the database (got "${redactURL(raw)}")`,
    });
    return z.NEVER;
  });

const origins = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const list = (value ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter((origin) => origin !== '');
    for (const origin of list) {
      if (!URL.canParse(origin) || new URL(origin).origin !== origin.replace(/\/$/, '')) {
        ctx.addIssue({
          code: 'custom',
          message: `TESSERA_ALLOWED_ORIGINS must be comma-separated origins like https://app.example.com (got "${origin}")`,
        });
        return z.NEVER;
      }
    }
    return list.map((origin) => origin.replace(/\/$/, ''));
  });

const introspectSecret = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return null;
    if (Buffer.byteLength(value, 'utf8') < 32 || new Set(value).size < 8) {
      ctx.addIssue({
        code: 'custom',
        message:
          'TESSERA_INTROSPECT_SECRET is too weak: use at least 32 random bytes, e.g. the output of: openssl rand -base64 32',
      });
      return z.NEVER;
    }
    return value;
  });

/** The access-token signing algorithms the server offers: asymmetric only, so other services verify with the JWKS. */
export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;

/** An access-token signing algorithm the server offers. */
export type ServerSigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

const signingAlgorithm = z
  .string()
  .optional()
  .transform((value, ctx): ServerSigningAlgorithm => {
    const raw = value?.trim() ?? '';
    if (raw === '') return 'EdDSA';
    const found = SIGNING_ALGORITHMS.find((alg) => alg === raw);
    if (found !== undefined) return found;
    ctx.addIssue({
      code: 'custom',
      message: `TESSERA_SIGNING_ALG must be one of ${SIGNING_ALGORITHMS.join(', ')} (got "${raw.slice(0, 32)}")`,
    });
    return z.NEVER;
  });

/** A claim value verifiers compare byte for byte: printable, no spaces or commas, at most 512 characters. */
const CLAIM_VALUE = /^[\x21-\x2b\x2d-\x7e]{1,512}$/;

/** `TESSERA_ISSUER`: the `iss` of access tokens; `null` (unset) means the public URL. */
const issuer = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const raw = value?.trim() ?? '';
    if (raw === '') return null;
    if (CLAIM_VALUE.test(raw)) return raw;
    ctx.addIssue({
      code: 'custom',
      message:
        'TESSERA_ISSUER must be one value of up to 512 printable characters, no spaces or commas, usually the public URL like https://auth.example.com',
    });
    return z.NEVER;
  });

/** `TESSERA_AUDIENCE`: comma-separated `aud` values of access tokens; `null` (unset) means the public URL. */
const audience = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const list = (value ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    if (list.length === 0) return null;
    if (list.length <= 16 && list.every((entry) => CLAIM_VALUE.test(entry))) return [...new Set(list)];
    ctx.addIssue({
      code: 'custom',
      message:
        'TESSERA_AUDIENCE must be 1 to 16 comma-separated values of up to 512 printable characters each, no spaces (e.g. https://api.example.com,orders)',
    });
    return z.NEVER;
  });

/** Names proxy-addr (Fastify's `trustProxy`, Express's `trust proxy`) accepts for ranges of private addresses. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One entry of a trusted proxy list: an IP address, a CIDR, or a range name. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  // A netmask (255.255.255.0) is accepted for IPv4 like proxy-addr does; otherwise a prefix length.
  if (family === 4 && isIP(prefix) === 4) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A hop count (0 to 10), or a comma-separated list of proxy addresses / CIDRs: only those peers' forwarded headers count. */
const trustProxy = z
  .string()
  .optional()
  .transform((value, ctx): number | string[] => {
    const raw = value?.trim() ?? '';
    if (raw === '') return 0;
    if (/^\d+$/.test(raw) && Number(raw) <= 10) return Number(raw);
    const list = raw
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    const bad = list.find((entry) => !isProxyAddress(entry));
    if (list.length === 0 || bad !== undefined || /^\d+$/.test(raw)) {
      ctx.addIssue({
        code: 'custom',
        message: `TESSERA_TRUST_PROXY must be a comma-separated list of proxy addresses or CIDRs (e.g. 10.0.0.5,10.1.0.0/16), or a hop count from 0 to 10 (got "${bad ?? raw}")`,
      });
      return z.NEVER;
    }
    return list;
  });

/** The origin users reach the server at: scheme, host and port only. */
const publicURL = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const raw = value?.trim() ?? '';
    if (raw === '') return null;
    const url = URL.canParse(raw) ? new URL(raw) : null;
    if (
      url === null ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.origin !== raw.replace(/\/$/, '')
    ) {
      ctx.addIssue({
        code: 'custom',
        message: `TESSERA_PUBLIC_URL must be the origin users reach, like https://auth.example.com (no path) (got "${raw}")`,
      });
      return z.NEVER;
    }
    return url.origin;
  });

/** A bearer token for `/metrics`: long and varied enough that guessing is hopeless. */
const metricsToken = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return null;
    if (Buffer.byteLength(value, 'utf8') < 32 || new Set(value).size < 8 || !/^[\x21-\x7e]+$/.test(value)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'TESSERA_METRICS_TOKEN is too weak: use at least 32 random printable characters, e.g. the output of: openssl rand -base64 32',
      });
      return z.NEVER;
    }
    return value;
  });

/** An optional port for a listener of its own: unset means none. */
const optionalPort = (name: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return null;
      if (!/^\d{1,5}$/.test(value.trim()) || Number(value) > 65535) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a whole number from 0 to 65535 (got "${value}")` });
        return z.NEVER;
      }
      return Number(value);
    });

/** Webhook endpoints: comma-separated http(s) URLs. */
const webhookURLs = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const list = (value ?? '')
      .split(',')
      .map((url) => url.trim())
      .filter((url) => url !== '');
    const checked: string[] = [];
    for (const url of list) {
      const result = checkWebhookURL(url, 'TESSERA_WEBHOOK_URLS');
      if (typeof result !== 'string') {
        ctx.addIssue({ code: 'custom', message: result.error });
        return z.NEVER;
      }
      if (!checked.includes(result)) checked.push(result);
    }
    return checked;
  });

const envSchema = z.object({
  PORT: wholeNumber('PORT', 3000, { min: 0, max: 65535 }),
  HOST: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? '127.0.0.1' : value.trim())),
  TESSERA_DATABASE: database,
  TESSERA_SESSION_STORE: sessionStore,
  TESSERA_ACCESS_TOKEN_TTL: wholeNumber('TESSERA_ACCESS_TOKEN_TTL', 900, { max: 86_400, unit: 'seconds' }),
  TESSERA_IDLE_TIMEOUT: wholeNumber('TESSERA_IDLE_TIMEOUT', 1800, { min: 120, unit: 'seconds' }),
  TESSERA_ABSOLUTE_TIMEOUT: wholeNumber('TESSERA_ABSOLUTE_TIMEOUT', 604_800, { min: 120, unit: 'seconds' }),
  TESSERA_TOKEN_IDLE_TIMEOUT: wholeNumber('TESSERA_TOKEN_IDLE_TIMEOUT', 1_209_600, { min: 120, unit: 'seconds' }),
  TESSERA_TOKEN_ABSOLUTE_TIMEOUT: wholeNumber('TESSERA_TOKEN_ABSOLUTE_TIMEOUT', 7_776_000, {
    min: 120,
    unit: 'seconds',
  }),
  TESSERA_BROWSER_SESSION_MAX_AGE: wholeNumber('TESSERA_BROWSER_SESSION_MAX_AGE', 43_200, {
    min: 120,
    unit: 'seconds',
  }),
  TESSERA_REAUTH_MAX_AGE: wholeNumber('TESSERA_REAUTH_MAX_AGE', 600, { unit: 'seconds' }),
  TESSERA_REFRESH_GRACE: wholeNumber('TESSERA_REFRESH_GRACE', 10, { min: 0, max: 60, unit: 'seconds' }),
  TESSERA_LOGIN_MAX_ATTEMPTS: wholeNumber('TESSERA_LOGIN_MAX_ATTEMPTS', 10),
  TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP: wholeNumber('TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP', 100),
  TESSERA_SIGNUP_MAX_PER_IP: wholeNumber('TESSERA_SIGNUP_MAX_PER_IP', 100),
  TESSERA_SIGNUP_MAX_PER_EMAIL: wholeNumber('TESSERA_SIGNUP_MAX_PER_EMAIL', 5),
  TESSERA_MAX_SESSIONS_PER_USER: wholeNumber('TESSERA_MAX_SESSIONS_PER_USER', 50),
  TESSERA_SESSION_BINDING: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const binding = value === undefined || value.trim() === '' ? 'warn' : value.trim();
      const known = SESSION_BINDINGS.find((candidate) => candidate === binding);
      if (known !== undefined) return known;
      ctx.addIssue({ code: 'custom', message: `TESSERA_SESSION_BINDING must be off, warn or strict (got "${value}")` });
      return z.NEVER;
    }),
  TESSERA_ALLOWED_ORIGINS: origins,
  TESSERA_INTROSPECT_SECRET: introspectSecret,
  TESSERA_SIGNING_ALG: signingAlgorithm,
  TESSERA_ISSUER: issuer,
  TESSERA_AUDIENCE: audience,
  TESSERA_TRUST_PROXY: trustProxy,
  TESSERA_PUBLIC_URL: publicURL,
  TESSERA_METRICS_TOKEN: metricsToken,
  TESSERA_METRICS_PORT: optionalPort('TESSERA_METRICS_PORT'),
  TESSERA_METRICS_HOST: z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? '127.0.0.1' : value.trim())),
  TESSERA_SESSION_RATE_LIMIT: wholeNumber('TESSERA_SESSION_RATE_LIMIT', 0, { min: 0, unit: 'requests per minute' }),
  TESSERA_REFRESH_RATE_LIMIT: wholeNumber('TESSERA_REFRESH_RATE_LIMIT', 300, { unit: 'requests per minute' }),
  TESSERA_INTROSPECT_RATE_LIMIT: wholeNumber('TESSERA_INTROSPECT_RATE_LIMIT', 6000, { unit: 'requests per minute' }),
  TESSERA_INSECURE_DEV: flag('TESSERA_INSECURE_DEV'),
  TESSERA_SECRETS_KEY: z.string().optional(),
  TESSERA_SECRETS_KEY_FILE: z.string().optional(),
  TESSERA_WEBHOOK_URLS: webhookURLs,
  TESSERA_WEBHOOK_SECRET: z.string().optional(),
  LOG_LEVEL: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const level = value === undefined || value === '' ? 'info' : value;
      if (level === 'debug' || level === 'info' || level === 'warn' || level === 'error') return level;
      ctx.addIssue({ code: 'custom', message: `LOG_LEVEL must be debug, info, warn or error (got "${value}")` });
      return z.NEVER;
    }),
});

/** The server's validated configuration. Every duration is seconds. */
export interface ServerConfig {
  port: number;
  host: string;
  database: DatabaseLocation;
  sessionStore: SessionStoreLocation;
  accessTokenTtlSeconds: number;
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
  /** Idle timeout of token-transport sessions (mobile apps, CLIs). */
  tokenIdleTimeoutSeconds: number;
  /** Absolute lifetime of token-transport sessions. */
  tokenAbsoluteTimeoutSeconds: number;
  /** The longest absolute lifetime of a `remember: false` cookie session. */
  browserSessionMaxAgeSeconds: number;
  /** How recent a sign-in or re-authentication must be for a sensitive action. */
  reauthMaxAgeSeconds: number;
  refreshGraceSeconds: number;
  loginMaxAttempts: number;
  loginMaxAttemptsPerIP: number;
  /** Sign-up attempts per client IP per hour. */
  signupMaxPerIP: number;
  /** Sign-up attempts per email address per hour (taken or not). */
  signupMaxPerEmail: number;
  /** Live sessions per user; creating one more signs the oldest out. */
  maxSessionsPerUser: number;
  /** What a changed IP or user agent does to a session: `off`, `warn` (audit events) or `strict` (also revoke on another browser or OS). */
  sessionBinding: SessionBinding;
  allowedOrigins: string[];
  introspectSecret: string | null;
  /** The access tokens' signing algorithm; a change rotates the signing key at start (`TESSERA_SIGNING_ALG`). */
  signingAlgorithm: ServerSigningAlgorithm;
  /** The access tokens' `iss` (`TESSERA_ISSUER`); `null`: the public URL. */
  issuer: string | null;
  /** The access tokens' `aud` values (`TESSERA_AUDIENCE`); `null`: the public URL. */
  audiences: string[] | null;
  /** Whose `X-Forwarded-For` / `-Proto` / `-Host` count: these proxy addresses or CIDRs, or this many hops (0: nobody). */
  trustProxy: number | string[];
  /** The origin users reach (`TESSERA_PUBLIC_URL`); `null` on a loopback HOST without it: the address bound. */
  publicURL: string | null;
  /** Bearer token `/metrics` needs on the main port; `null` when unset. */
  metricsToken: string | null;
  /** A listener of its own for `/metrics`; `null` when unset. */
  metricsPort: number | null;
  /** Where that listener binds. @default "127.0.0.1" */
  metricsHost: string;
  /** Requests per minute per session on session routes; 0 is off. */
  sessionRateLimit: number;
  /** `POST /auth/refresh` requests per minute per client IP. */
  refreshRateLimit: number;
  /** `POST /auth/introspect` requests per minute per introspection client. */
  introspectRateLimit: number;
  /** Plain HTTP on a non-loopback address, explicitly asked for. */
  insecureDevelopment: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The key that encrypts signing keys and root secrets at rest; `null`: stored in plain text. */
  secretsKey: SecretsKey | null;
  /** `TESSERA_WEBHOOK_URLS` and the key of `TESSERA_WEBHOOK_SECRET` that signs what they receive. */
  webhooks: ConfiguredWebhooks;
}

/** The outcome of {@link loadServerConfig}: the config, or every problem found, one readable line each. */
export type ConfigResult = { ok: true; config: ServerConfig } | { ok: false; errors: string[] };

/** Hides a password in a URL before it is shown in an error message. */
function redactURL(value: string): string {
  return value.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Reads and validates the server configuration from the environment (and
 * `TESSERA_CONFIG`, a JSON file of the same variable names, which the
 * environment overrides). Nothing secret has a default: the server generates
 * its own secrets on first start.
 */
export function loadServerConfig(env: NodeJS.ProcessEnv = process.env): ConfigResult {
  let merged: Record<string, string | undefined> = { ...env };
  const file = env.TESSERA_CONFIG;
  if (file !== undefined && file !== '') {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      const fromFile = Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
      merged = { ...fromFile, ...merged };
    } catch (error) {
      return {
        ok: false,
        errors: [`TESSERA_CONFIG must name a readable JSON object file (${(error as Error).message})`],
      };
    }
  }
  const result = envSchema.safeParse(merged);
  if (!result.success) return { ok: false, errors: result.error.issues.map((issue) => issue.message) };
  const env2 = result.data;
  const errors: string[] = [];
  if (env2.TESSERA_IDLE_TIMEOUT > env2.TESSERA_ABSOLUTE_TIMEOUT) {
    errors.push('TESSERA_IDLE_TIMEOUT must not be greater than TESSERA_ABSOLUTE_TIMEOUT');
  }
  if (env2.TESSERA_TOKEN_IDLE_TIMEOUT > env2.TESSERA_TOKEN_ABSOLUTE_TIMEOUT) {
    errors.push('TESSERA_TOKEN_IDLE_TIMEOUT must not be greater than TESSERA_TOKEN_ABSOLUTE_TIMEOUT');
  }
  if (!LOOPBACK.has(env2.HOST) && env2.TESSERA_TRUST_PROXY === 0 && !env2.TESSERA_INSECURE_DEV) {
    errors.push(
      `HOST=${env2.HOST} would serve sessions over plain HTTP beyond this machine. Put Tessera behind a TLS proxy and set TESSERA_TRUST_PROXY to its address (or CIDR), or set TESSERA_INSECURE_DEV=true for development only.`,
    );
  }
  if (!LOOPBACK.has(env2.HOST) && env2.TESSERA_PUBLIC_URL === null) {
    errors.push(
      `HOST=${env2.HOST} is reachable beyond this machine, so TESSERA_PUBLIC_URL is required: the origin users reach, like https://auth.example.com (requests for any other Host are refused)`,
    );
  }
  const secretsKey = readSecretsKey('TESSERA_SECRETS_KEY', env2.TESSERA_SECRETS_KEY, env2.TESSERA_SECRETS_KEY_FILE);
  if (typeof secretsKey === 'string') errors.push(secretsKey);
  const webhooks = readWebhookSettings(env2.TESSERA_WEBHOOK_URLS, env2.TESSERA_WEBHOOK_SECRET);
  if (typeof webhooks === 'string') errors.push(webhooks);
  if (errors.length > 0 || typeof secretsKey === 'string' || typeof webhooks === 'string') return { ok: false, errors };
  return {
    ok: true,
    config: {
      port: env2.PORT,
      host: env2.HOST,
      database: env2.TESSERA_DATABASE,
      sessionStore: env2.TESSERA_SESSION_STORE,
      accessTokenTtlSeconds: env2.TESSERA_ACCESS_TOKEN_TTL,
      idleTimeoutSeconds: env2.TESSERA_IDLE_TIMEOUT,
      absoluteTimeoutSeconds: env2.TESSERA_ABSOLUTE_TIMEOUT,
      tokenIdleTimeoutSeconds: env2.TESSERA_TOKEN_IDLE_TIMEOUT,
      tokenAbsoluteTimeoutSeconds: env2.TESSERA_TOKEN_ABSOLUTE_TIMEOUT,
      browserSessionMaxAgeSeconds: env2.TESSERA_BROWSER_SESSION_MAX_AGE,
      reauthMaxAgeSeconds: env2.TESSERA_REAUTH_MAX_AGE,
      refreshGraceSeconds: env2.TESSERA_REFRESH_GRACE,
      loginMaxAttempts: env2.TESSERA_LOGIN_MAX_ATTEMPTS,
      loginMaxAttemptsPerIP: env2.TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP,
      signupMaxPerIP: env2.TESSERA_SIGNUP_MAX_PER_IP,
      signupMaxPerEmail: env2.TESSERA_SIGNUP_MAX_PER_EMAIL,
      maxSessionsPerUser: env2.TESSERA_MAX_SESSIONS_PER_USER,
      sessionBinding: env2.TESSERA_SESSION_BINDING,
      allowedOrigins: env2.TESSERA_ALLOWED_ORIGINS,
      introspectSecret: env2.TESSERA_INTROSPECT_SECRET,
      signingAlgorithm: env2.TESSERA_SIGNING_ALG,
      issuer: env2.TESSERA_ISSUER,
      audiences: env2.TESSERA_AUDIENCE,
      trustProxy: env2.TESSERA_TRUST_PROXY,
      publicURL: env2.TESSERA_PUBLIC_URL,
      metricsToken: env2.TESSERA_METRICS_TOKEN,
      metricsPort: env2.TESSERA_METRICS_PORT,
      metricsHost: env2.TESSERA_METRICS_HOST,
      sessionRateLimit: env2.TESSERA_SESSION_RATE_LIMIT,
      refreshRateLimit: env2.TESSERA_REFRESH_RATE_LIMIT,
      introspectRateLimit: env2.TESSERA_INTROSPECT_RATE_LIMIT,
      insecureDevelopment: env2.TESSERA_INSECURE_DEV,
      logLevel: env2.LOG_LEVEL,
      secretsKey,
      webhooks,
    },
  };
}

/** The environment's webhook endpoints and their secret: both or neither. */
function readWebhookSettings(urls: string[], secret: string | undefined): ConfiguredWebhooks | string {
  const given = secret !== undefined && secret.trim() !== '';
  if (urls.length === 0) {
    return given
      ? 'TESSERA_WEBHOOK_SECRET is set but TESSERA_WEBHOOK_URLS is empty: set both, or neither'
      : { urls, secret: null };
  }
  if (!given) {
    return `TESSERA_WEBHOOK_URLS needs TESSERA_WEBHOOK_SECRET, the secret that signs what they receive: ${HOW_TO_MAKE_A_WEBHOOK_SECRET}`;
  }
  const key = parseWebhookSecret(secret, 'TESSERA_WEBHOOK_SECRET');
  return typeof key === 'string' ? key : { urls, secret: key };
}

/** The configuration is invalid: `errors` holds one readable line per problem. */
export class ConfigurationError extends TesseraError<'ERR_CONFIGURATION'> {
  readonly errors: string[];
  constructor(errors: string[]) {
    super('ERR_CONFIGURATION', `Invalid configuration:\n${errors.map((line) => `  - ${line}`).join('\n')}`);
    this.errors = errors;
  }
}
