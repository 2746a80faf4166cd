import { CompactSign, importJWK, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseCompactJWS, verifyCompactJWS, type SigningAlgorithm, type VerificationKey } from './jws.js';

// RFC 8037, appendix A.1 / A.4: the Ed25519 key and its (deterministic) signature of "Example of Ed25519 signing".
const RFC8037_KEY = {
  kty: 'OKP',
  crv: 'Ed25519',
  d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
};
const RFC8037_JWS =
  'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg';

// RFC 7515, appendix A.3: ES256 (ECDSA is randomised, so verification only).
const RFC7515_A3_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
};
const RFC7515_A3_JWS =
  'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q';

const verificationKey = async (jwk: Record<string, string>, alg: SigningAlgorithm): Promise<VerificationKey> => {
  const { d: _private, ...publicJwk } = jwk;
  return { kid: 'rfc', alg, key: (await importJWK(publicJwk, alg)) as CryptoKey };
};

const verify = async (token: string, key: VerificationKey): Promise<string | null> => {
  const parsed = parseCompactJWS(token, 4096);
  if (parsed === null) return null;
  const payload = await verifyCompactJWS(parsed, key);
  return payload === null ? null : Buffer.from(payload).toString('utf8');
};

describe('JWS primitives against published vectors', () => {
  it('verifies the RFC 8037 A.4 Ed25519 example', async () => {
    const key = await verificationKey(RFC8037_KEY, 'EdDSA');
    expect(await verify(RFC8037_JWS, key)).toBe('Example of Ed25519 signing');
  });

  it('reproduces the RFC 8037 A.4 signature exactly (Ed25519 is deterministic)', async () => {
    const privateKey = await importJWK(RFC8037_KEY, 'EdDSA');
    const jws = await new CompactSign(Buffer.from('Example of Ed25519 signing'))
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(privateKey);
    expect(jws).toBe(RFC8037_JWS);
  });

  it('verifies the RFC 7515 A.3 ES256 example', async () => {
    const key = await verificationKey(RFC7515_A3_KEY, 'ES256');
    expect(await verify(RFC7515_A3_JWS, key)).toContain('"iss":"joe"');
  });

  it('refuses the vectors with one bit changed, or under another algorithm binding', async () => {
    const ed = await verificationKey(RFC8037_KEY, 'EdDSA');
    const es = await verificationKey(RFC7515_A3_KEY, 'ES256');
    const [header, payload, signature] = RFC8037_JWS.split('.') as [string, string, string];
    const flipped = (signature[0] === 'h' ? 'i' : 'h') + signature.slice(1);
    expect(await verify(`${header}.${payload}.${flipped}`, ed)).toBeNull();
    expect(
      await verify(`${header}.${Buffer.from('Example of Ed25519 signinG').toString('base64url')}.${signature}`, ed),
    ).toBeNull();
    expect(await verify(RFC8037_JWS, es)).toBeNull();
    expect(await verify(RFC7515_A3_JWS, ed)).toBeNull();
  });

  it('parses only three non-empty base64url segments under the length limit', () => {
    expect(parseCompactJWS(RFC8037_JWS, 4096)?.header).toEqual({ alg: 'EdDSA' });
    expect(parseCompactJWS(RFC8037_JWS, RFC8037_JWS.length - 1)).toBeNull();
    expect(parseCompactJWS(RFC8037_JWS.slice(0, RFC8037_JWS.lastIndexOf('.') + 1), 4096)).toBeNull();
    expect(parseCompactJWS(RFC8037_JWS.slice(0, RFC8037_JWS.lastIndexOf('.')), 4096)).toBeNull();
    expect(parseCompactJWS(`${RFC8037_JWS}.x.y`, 4096)).toBeNull();
    expect(parseCompactJWS(` ${RFC8037_JWS}`, 4096)).toBeNull();
    expect(parseCompactJWS(42, 4096)).toBeNull();
    const header = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(parseCompactJWS(`${header(['EdDSA'])}.e30.c2ln`, 4096)).toBeNull();
    expect(parseCompactJWS(`${header({ alg: 'EdDSA', x5c: ['MII'] })}.e30.c2ln`, 4096)).toBeNull();
    expect(parseCompactJWS(`${header({ alg: 'EdDSA', kid: 7 })}.e30.c2ln`, 4096)).toBeNull();
    expect(parseCompactJWS(`bm90IGpzb24.e30.c2ln`, 4096)).toBeNull();
  });
});
