import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from './config.js';

describe('loadServerConfig', () => {
  it('runs with no configuration at all: 127.0.0.1:3000, SQLite under ./data, API.md defaults', () => {
    expect(loadServerConfig({})).toEqual({
      ok: true,
      config: {
        port: 3000,
        host: '127.0.0.1',
        database: { kind: 'sqlite', path: './data/tessera.db' },
        sessionStore: { kind: 'database' },
        accessTokenTtlSeconds: 900,
        idleTimeoutSeconds: 1800,
        absoluteTimeoutSeconds: 604800,
        tokenIdleTimeoutSeconds: 1_209_600,
        tokenAbsoluteTimeoutSeconds: 7_776_000,
        browserSessionMaxAgeSeconds: 43_200,
        reauthMaxAgeSeconds: 600,
        refreshGraceSeconds: 10,
        loginMaxAttempts: 10,
        loginMaxAttemptsPerIP: 100,
        signupMaxPerIP: 100,
        signupMaxPerEmail: 5,
        maxSessionsPerUser: 50,
        sessionBinding: 'warn',
        allowedOrigins: [],
        introspectSecret: null,
        signingAlgorithm: 'EdDSA',
        issuer: null,
        audiences: null,
        trustProxy: 0,
        publicURL: null,
        metricsToken: null,
        metricsPort: null,
        metricsHost: '127.0.0.1',
        sessionRateLimit: 0,
        refreshRateLimit: 300,
        introspectRateLimit: 6000,
        insecureDevelopment: false,
        logLevel: 'info',
        secretsKey: null,
        webhooks: { urls: [], secret: null },
      },
    });
  });

  it('reads the token settings: algorithm, issuer and one or more audiences', () => {
    const loaded = loadServerConfig({
      TESSERA_SIGNING_ALG: 'RS256',
      TESSERA_ISSUER: 'https://auth.example.com',
      TESSERA_AUDIENCE: 'https://api.example.com, orders,orders',
    });
    expect(loaded.ok && loaded.config).toMatchObject({
      signingAlgorithm: 'RS256',
      issuer: 'https://auth.example.com',
      audiences: ['https://api.example.com', 'orders'],
    });
  });

  it('reads every store location', () => {
    const store = (value: string) => {
      const result = loadServerConfig({ TESSERA_SESSION_STORE: value });
      return result.ok ? result.config.sessionStore : result.errors;
    };
    expect(store('redis://127.0.0.1:6379/0')).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379/0' });
    expect(store('memory:')).toEqual({ kind: 'memory' });
    expect(store('redis-cluster://10.0.0.1:7000, 10.0.0.2:7001')).toEqual({
      kind: 'redis-cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
    });
    const postgres = loadServerConfig({ TESSERA_DATABASE: 'postgres://u:p@127.0.0.1:5432/db' });
    expect(postgres.ok && postgres.config.database).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@127.0.0.1:5432/db',
    });
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT must be a whole number from 0 to 65535 (got "abc")'],
    [{ PORT: '70000' }, 'PORT must be a whole number from 0 to 65535'],
    [{ TESSERA_IDLE_TIMEOUT: '-1' }, 'TESSERA_IDLE_TIMEOUT must be a whole number of seconds'],
    [{ TESSERA_ACCESS_TOKEN_TTL: '1.5' }, 'TESSERA_ACCESS_TOKEN_TTL must be a whole number of seconds'],
    [
      { TESSERA_ACCESS_TOKEN_TTL: '100000' },
      'TESSERA_ACCESS_TOKEN_TTL must be a whole number of seconds from 1 to 86400',
    ],
    [
      { TESSERA_REFRESH_GRACE: '120' },
      'TESSERA_REFRESH_GRACE must be a whole number of seconds from 0 to 60 (got "120")',
    ],
    [{ TESSERA_LOGIN_MAX_ATTEMPTS: '0' }, 'TESSERA_LOGIN_MAX_ATTEMPTS must be a whole number, at least 1 (got "0")'],
    [{ TESSERA_SIGNUP_MAX_PER_IP: '0' }, 'TESSERA_SIGNUP_MAX_PER_IP must be a whole number, at least 1 (got "0")'],
    [{ TESSERA_SIGNUP_MAX_PER_EMAIL: 'five' }, 'TESSERA_SIGNUP_MAX_PER_EMAIL must be a whole number, at least 1'],
    [{ TESSERA_MAX_SESSIONS_PER_USER: '-3' }, 'TESSERA_MAX_SESSIONS_PER_USER must be a whole number, at least 1'],
    [{ TESSERA_DATABASE: 'mysql://x' }, 'TESSERA_DATABASE must be sqlite:<path> or a postgres:// URL'],
    [{ TESSERA_SIGNING_ALG: 'HS256' }, 'TESSERA_SIGNING_ALG must be one of EdDSA, ES256, RS256 (got "HS256")'],
    [{ TESSERA_SIGNING_ALG: 'es256' }, 'TESSERA_SIGNING_ALG must be one of EdDSA, ES256, RS256'],
    [{ TESSERA_ISSUER: 'my issuer' }, 'TESSERA_ISSUER must be one value of up to 512 printable characters'],
    [{ TESSERA_AUDIENCE: 'api, my app' }, 'TESSERA_AUDIENCE must be 1 to 16 comma-separated values'],
    [{ TESSERA_SESSION_STORE: 'redis-cluster://nope' }, 'TESSERA_SESSION_STORE must be redis://'],
    [{ TESSERA_ALLOWED_ORIGINS: 'https://a.example/path' }, 'TESSERA_ALLOWED_ORIGINS must be comma-separated origins'],
    [{ TESSERA_INTROSPECT_SECRET: 'changeme' }, 'TESSERA_INTROSPECT_SECRET is too weak'],
    [{ TESSERA_INTROSPECT_SECRET: 'a'.repeat(40) }, 'openssl rand -base64 32'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL must be debug, info, warn or error'],
    [{ TESSERA_INSECURE_DEV: 'yes' }, 'TESSERA_INSECURE_DEV must be "true" or "false"'],
    [{ TESSERA_IDLE_TIMEOUT: '7200', TESSERA_ABSOLUTE_TIMEOUT: '3600' }, 'must not be greater than'],
    [
      { TESSERA_TOKEN_IDLE_TIMEOUT: '7200', TESSERA_TOKEN_ABSOLUTE_TIMEOUT: '3600' },
      'TESSERA_TOKEN_IDLE_TIMEOUT must not be greater than TESSERA_TOKEN_ABSOLUTE_TIMEOUT',
    ],
    [{ TESSERA_REAUTH_MAX_AGE: '0' }, 'TESSERA_REAUTH_MAX_AGE must be a whole number of seconds, at least 1'],
    [{ TESSERA_BROWSER_SESSION_MAX_AGE: '60' }, 'TESSERA_BROWSER_SESSION_MAX_AGE must be a whole number of seconds'],
    [{ HOST: '0.0.0.0' }, 'Put Tessera behind a TLS proxy and set TESSERA_TRUST_PROXY'],
    [{ HOST: '0.0.0.0', TESSERA_TRUST_PROXY: '10.0.0.5' }, 'TESSERA_PUBLIC_URL is required'],
    [{ TESSERA_PUBLIC_URL: 'https://auth.example.com/login' }, 'TESSERA_PUBLIC_URL must be the origin users reach'],
    [{ TESSERA_PUBLIC_URL: 'ftp://auth.example.com' }, 'TESSERA_PUBLIC_URL must be the origin users reach'],
    [{ TESSERA_TRUST_PROXY: '11' }, 'TESSERA_TRUST_PROXY must be a comma-separated list of proxy addresses or CIDRs'],
    [{ TESSERA_TRUST_PROXY: '10.0.0.0/33' }, '(got "10.0.0.0/33")'],
    [{ TESSERA_TRUST_PROXY: '10.0.0.1, proxy.internal' }, '(got "proxy.internal")'],
    [{ TESSERA_METRICS_TOKEN: 'changeme' }, 'TESSERA_METRICS_TOKEN is too weak'],
    [{ TESSERA_METRICS_TOKEN: 'a'.repeat(40) }, 'openssl rand -base64 32'],
    [{ TESSERA_METRICS_PORT: 'nine' }, 'TESSERA_METRICS_PORT must be a whole number from 0 to 65535'],
    [{ TESSERA_SESSION_RATE_LIMIT: '-1' }, 'TESSERA_SESSION_RATE_LIMIT must be a whole number of requests per minute'],
    [{ TESSERA_REFRESH_RATE_LIMIT: '0' }, 'TESSERA_REFRESH_RATE_LIMIT must be a whole number of requests per minute'],
  ])('refuses %j, naming the variable and the rule', (env, message) => {
    const result = loadServerConfig(env);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.errors.join('\n')).toContain(message);
  });

  it('reads TESSERA_SESSION_BINDING as off, warn or strict, and refuses anything else', () => {
    const binding = (value: string) => {
      const result = loadServerConfig({ TESSERA_SESSION_BINDING: value });
      return result.ok ? result.config.sessionBinding : result.errors;
    };
    expect([binding('off'), binding(' strict '), binding('')]).toEqual(['off', 'strict', 'warn']);
    expect(binding('STRICT')).toEqual(['TESSERA_SESSION_BINDING must be off, warn or strict (got "STRICT")']);
  });

  it('never echoes a database password', () => {
    const result = loadServerConfig({ TESSERA_SESSION_STORE: 'redis-cluster://user:hunter2@x' });
    expect(result.ok ? '' : result.errors.join()).not.toContain('hunter2');
  });

  it('lets a non-loopback host run behind a TLS proxy or in explicit insecure development, with a public URL', () => {
    const publicURL = { TESSERA_PUBLIC_URL: 'https://auth.example.com/' };
    expect(loadServerConfig({ HOST: '0.0.0.0', TESSERA_TRUST_PROXY: '1', ...publicURL }).ok).toBe(true);
    expect(loadServerConfig({ HOST: '0.0.0.0', TESSERA_INSECURE_DEV: 'true', ...publicURL }).ok).toBe(true);
    const result = loadServerConfig({ HOST: '0.0.0.0', TESSERA_TRUST_PROXY: '1', ...publicURL });
    expect(result.ok && result.config.publicURL).toBe('https://auth.example.com');
  });

  it('reads TESSERA_TRUST_PROXY as a list of proxy addresses and CIDRs, or as a hop count', () => {
    const trust = (value: string) => {
      const result = loadServerConfig({ TESSERA_TRUST_PROXY: value });
      return result.ok ? result.config.trustProxy : result.errors;
    };
    expect(trust('10.0.0.5, 10.1.0.0/16,fd00::/8 , ::1,loopback')).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      'fd00::/8',
      '::1',
      'loopback',
    ]);
    expect(trust('192.168.0.0/255.255.0.0')).toEqual(['192.168.0.0/255.255.0.0']);
    expect(trust('2')).toBe(2);
    expect(trust('')).toBe(0);
  });

  it('reads a config file that the environment overrides', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tessera-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ PORT: 4000, TESSERA_IDLE_TIMEOUT: 600, LOG_LEVEL: 'debug' }));
    const result = loadServerConfig({ TESSERA_CONFIG: file, LOG_LEVEL: 'warn' });
    expect(result.ok && [result.config.port, result.config.idleTimeoutSeconds, result.config.logLevel]).toEqual([
      4000,
      600,
      'warn',
    ]);
    expect(loadServerConfig({ TESSERA_CONFIG: '/nonexistent.json' })).toMatchObject({ ok: false });
  });
});
