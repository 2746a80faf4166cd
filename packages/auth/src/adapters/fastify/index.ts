export {
  sendApiError,
  tesseraFastify,
  type FastifyLoginAttempt,
  type TesseraFastify,
  type TesseraFastifyOptions,
  type TesseraPreHandler,
} from './fastify-adapter.js';
