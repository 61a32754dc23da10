export { type AdminServerOptions, buildAdminServer } from './app.js';
export {
  type Access,
  createTokenVerifier,
  isJwksUnavailable,
  type Principal,
  scopesOf,
  type TokenCacheOptions,
} from './auth.js';
export { loadServerConfig, oauth2Schema, type ServerConfig, serverConfigSchema } from './config.js';
export { type ErrorBody, hostErrorStatus, ServerErrorCodes } from './errors.js';
export type * from './host.js';
