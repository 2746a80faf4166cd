export {
  createTesseraExpress,
  sendApiError,
  type ExpressLoginAttempt,
  type TesseraExpress,
} from './express-adapter.js';
