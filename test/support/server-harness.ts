import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createTesseraServer, type TesseraServer } from '../../packages/server/src/app.js';
import { loadServerConfig, type ServerConfig } from '../../packages/server/src/config.js';
import { createServerLogger } from '../../packages/server/src/logging.js';
import { openServerRuntime, type ServerRuntime } from '../../packages/server/src/runtime.js';
import { type FaultyStore, createFaultyStore } from 'tessera-auth/testing';

/** A running in-process server with everything a test needs to drive and inspect it. */
export interface TestServer {
  url: string;
  /** The metrics listener's URL when `TESSERA_METRICS_PORT` is set (the harness binds it to a free port). */
  metricsUrl: string | null;
  server: TesseraServer;
  config: ServerConfig;
  /** The runtime the server was built on (its `database` is the sealing store, not behind the switch). */
  runtime: ServerRuntime;
  /** The session store, behind a switch that takes it down. */
  sessions: FaultyStore;
  /** Every log line written so far. */
  logs: string[];
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  rawBody?: string;
  contentType?: string;
  cookie?: string;
  csrf?: string;
  bearer?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  json: any;
  text: string;
  /** `name=value` of the session cookie this response set, if any. */
  setCookie: string | null;
}

/**
 * Starts the real server in this process on 127.0.0.1 with a temp SQLite
 * database unless `env` says otherwise, an injectable clock, and a log
 * capture. The session store is wrapped so tests can take it down.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-server-'));
  const loaded = loadServerConfig({ TESSERA_DATABASE: `sqlite:${join(dir, 'tessera.db')}`, PORT: '0', ...env });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const config = loaded.config;
  const logs: string[] = [];
  const logger = createServerLogger(
    'debug',
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  );
  const opened = await openServerRuntime(config, logger);
  const sessions = createFaultyStore(opened.sessions);
  const runtime: ServerRuntime = {
    ...opened,
    sessions,
    database: opened.database === opened.sessions ? sessions : opened.database,
  };
  let offset = 0;
  const server = await createTesseraServer({ config, runtime, logger, now: () => Date.now() + offset });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const address = server.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  let metricsUrl: string | null = null;
  if (server.metricsApp !== null) {
    await server.metricsApp.listen({ port: 0, host: '127.0.0.1' });
    const bound = server.metricsApp.server.address();
    metricsUrl = `http://127.0.0.1:${typeof bound === 'object' && bound !== null ? bound.port : 0}`;
  }

  return {
    url,
    metricsUrl,
    server,
    config,
    runtime: opened,
    sessions,
    logs,
    advance: (ms) => {
      offset += ms;
    },
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      let body: string | undefined;
      if (options.rawBody !== undefined || options.body !== undefined) {
        body = options.rawBody ?? JSON.stringify(options.body);
        headers['content-type'] = options.contentType ?? 'application/json';
      }
      if (options.cookie !== undefined) headers.cookie = options.cookie;
      if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
      if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
      const response = await fetch(url + path, { method, headers, body, redirect: 'manual' });
      const text = await response.text();
      let json: unknown = null;
      try {
        json = text === '' ? null : JSON.parse(text);
      } catch {
        json = null;
      }
      const cookie = response.headers
        .getSetCookie()
        .map((value) => value.split(';')[0]!)
        .find((value) => value.startsWith('__Host-tessera='));
      return { status: response.status, headers: response.headers, json, text, setCookie: cookie ?? null };
    },
    async close() {
      await server.app.close();
      await server.metricsApp?.close();
      await opened.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
