export { createDeviceCookie, type DeviceCookie, type DeviceCookieOptions } from './device-cookie.js';
