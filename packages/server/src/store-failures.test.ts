import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from 'tessera-auth/errors';
import { createStoreFailureLog, describeDriverError, observeStore } from './store-failures.js';

const driverError = (message: string, code?: string) =>
  Object.assign(new Error(message), code === undefined ? {} : { code });

describe('store failure log lines', () => {
  it('names the driver’s code and message, masking anything value-like', () => {
    const wrapped = new StoreUnavailableError('PostgreSQL store failed during getSession', {
      cause: driverError('invalid input syntax for type uuid: "tok_4f9a2b-secret"', '22P02'),
    });
    expect(describeDriverError(wrapped)).toEqual({
      code: '22P02',
      message: 'invalid input syntax for type uuid: "…"',
    });
    const token = 'AAAAbm90LWEtcmVhbC1zZXNzaW9uAAAAbm90LWEtcmVhbC1zZXNzaW9u';
    expect(describeDriverError(driverError(`no such key tessera:{ab12}:sess:${token}`)).message).toBe(
      'no such key tessera:{…}…',
    );
    expect(describeDriverError(driverError('database is locked', 'SQLITE_BUSY'))).toEqual({
      code: 'SQLITE_BUSY',
      message: 'database is locked',
    });
  });

  it('writes one line per backend per interval, then says how many it left out', () => {
    const lines: Record<string, unknown>[] = [];
    let clock = 0;
    const logger = {
      error: (fields: Record<string, unknown>) => lines.push(fields),
      warn: () => undefined,
      info: () => undefined,
      debug: () => undefined,
    };
    const report = createStoreFailureLog(logger, { now: () => clock, intervalMs: 1000 });
    for (let i = 0; i < 50; i++) report('redis', 'getSession', driverError('Connection is closed.'));
    report('postgres', 'get', driverError('connect ECONNREFUSED', 'ECONNREFUSED'));
    clock = 1000;
    report('redis', 'get', driverError('Connection is closed.'));
    expect(lines).toEqual([
      { event: 'store.failed', backend: 'redis', operation: 'getSession', code: null, error: 'Connection is closed.' },
      {
        event: 'store.failed',
        backend: 'postgres',
        operation: 'get',
        code: 'ECONNREFUSED',
        error: 'connect ECONNREFUSED',
      },
      {
        event: 'store.failed',
        backend: 'redis',
        operation: 'get',
        code: null,
        error: 'Connection is closed.',
        suppressed: 49,
      },
    ]);
  });

  it('reports failed calls only, and passes every result and rejection through unchanged', async () => {
    const reports: string[] = [];
    class Limiter {
      readonly points = 3;
      async consume(key: string) {
        if (key === 'over') throw { remainingPoints: 0 };
        if (key === 'down') throw driverError('Connection is closed.');
        return this.points;
      }
    }
    const limiter = observeStore(new Limiter(), 'redis', (backend, operation) =>
      reports.push(`${backend} ${operation}`),
    );
    expect(await limiter.consume('ok')).toBe(3);
    await expect(limiter.consume('over')).rejects.toEqual({ remainingPoints: 0 });
    await expect(limiter.consume('down')).rejects.toThrow('Connection is closed.');
    expect(limiter.points).toBe(3);
    expect(reports).toEqual(['redis consume']);
  });
});
