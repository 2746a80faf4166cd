export {
  createTesseraHono,
  sendApiError,
  type HonoLoginAttempt,
  type TesseraEnv,
  type TesseraHono,
  type TesseraHonoOptions,
} from './hono-adapter.js';
