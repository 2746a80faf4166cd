/**
 * The stacks `npm run bench` measures: one server per row, each serving an
 * authenticated `GET /me`. This file is only the catalogue (no framework is
 * imported here); `serve.ts` builds each one in its own process.
 */

/** Which backend a stack keeps its sessions in. */
export type StackStore = 'none' | 'redis' | 'postgres';

export interface StackInfo {
  /** Short id, for `--stacks` and the JSON. */
  id: string;
  /** The row's label in the table. */
  label: string;
  /** The bare framework this row is divided by (itself for a bare row). */
  bare: string;
  store: StackStore;
  /** What `GET /me` without a credential must answer: 200 for a bare stack, 401 for every authenticated one. */
  anonymousStatus: 200 | 401;
  /** The performance target the row is held to (issue 13), shown beside its numbers; `null` when it has none. */
  target: StackTarget | null;
}

/** What a row must reach: all of the given bounds. */
export interface StackTarget {
  /** Least median req/s over its bare framework's. */
  minRatio: number;
  /** A stack whose median req/s this one must beat. */
  aheadOf?: string;
  /** Most Redis commands per request (a hot session: one that this instance served moments ago). */
  maxCommandsPerRequest?: number;
}

const row = (
  id: string,
  label: string,
  bare: string,
  store: StackStore,
  target: StackTarget | null = null,
): StackInfo => ({
  id,
  label,
  bare,
  store,
  anonymousStatus: id === bare ? 200 : 401,
  target,
});

/** In table order: each bare framework first, then what is measured against it. */
export const STACKS: readonly StackInfo[] = [
  row('fastify-bare', 'Fastify bare', 'fastify-bare', 'none'),
  row('fastify-tessera', 'Fastify + Tessera (cookie → session → requireAuth)', 'fastify-bare', 'redis', {
    minRatio: 0.8,
    maxCommandsPerRequest: 0.1,
  }),
  row('fastify-full', 'Fastify + Tessera, full chain (+ CSRF + leased per-session limit)', 'fastify-bare', 'redis', {
    minRatio: 0.7,
    maxCommandsPerRequest: 0.1,
  }),
  row('fastify-session', 'Fastify + @fastify/session + connect-redis (peer, rolling)', 'fastify-bare', 'redis'),
  row('fastify-tessera-pg', 'Fastify + Tessera, PostgreSQL store', 'fastify-bare', 'postgres'),
  row('hono-bare', 'Hono bare', 'hono-bare', 'none'),
  row('hono-tessera', 'Hono + Tessera', 'hono-bare', 'redis', { minRatio: 0.8, maxCommandsPerRequest: 0.1 }),
  row('express-bare', 'Express 5 bare', 'express-bare', 'none'),
  row('express-tessera', 'Express 5 + Tessera', 'express-bare', 'redis', {
    minRatio: 0.9,
    aheadOf: 'express-session',
    maxCommandsPerRequest: 0.1,
  }),
  row('express-session', 'Express 5 + express-session + connect-redis (peer)', 'express-bare', 'redis'),
  row('http-bare', 'node:http bare', 'http-bare', 'none'),
  row('http-eddsa-session', 'node:http + Tessera bearer EdDSA, session check', 'http-bare', 'redis'),
  row('http-eddsa-local', 'node:http + Tessera EdDSA verifyAccessToken, no store check', 'http-bare', 'redis'),
  row('http-hs256-session', 'node:http + Tessera bearer HS256, session check', 'http-bare', 'redis'),
  row('http-eddsa-session-pg', 'node:http + Tessera bearer EdDSA, session check, PostgreSQL', 'http-bare', 'postgres'),
  row('http-fastjwt-hs256', 'node:http + fast-jwt HS256 (peer, no revocation)', 'http-bare', 'none'),
];

export function stackById(id: string): StackInfo {
  const stack = STACKS.find((candidate) => candidate.id === id);
  if (stack === undefined) {
    throw new Error(`unknown stack "${id}"; known: ${STACKS.map((known) => known.id).join(', ')}`);
  }
  return stack;
}
