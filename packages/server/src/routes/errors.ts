import type { ApiErrorCode } from 'tessera-auth/http';

/** The errors any route with a JSON body can answer. */
export const BODY_ERRORS: readonly ApiErrorCode[] = ['invalid_request', 'payload_too_large', 'unsupported_media_type'];
