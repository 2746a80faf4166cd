export type { AccessTokenClaims } from './access-token.js';
export type { IntrospectionResponse, TokenTypeHint } from './introspect.js';
export type { SigningAlgorithm } from './jws.js';
export { resealKeyRing, type KeyDocumentCodec, type KeyInfo } from './key-ring.js';
export {
  createTokenService,
  type AccessTokenVerificationResult,
  type RefreshResult,
  type RevocationCheck,
  type TokenEvent,
  type TokenPair,
  type TokenService,
  type TokenServiceOptions,
} from './token-service.js';
