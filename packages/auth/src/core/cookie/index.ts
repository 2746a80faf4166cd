export { createSessionCookie, type SessionCookie, type SessionCookieOptions } from './session-cookie.js';
