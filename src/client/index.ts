/**
 * `heimdall/middleware`: verify Heimdall tokens at the edge. Runtime-neutral
 * (Workers, Node, Deno, Bun), depending on `jose` only; the Hono flavour is
 * `heimdall/middleware/hono`.
 */
export { HeimdallTokenError, createHeimdallVerifier, verifyHeimdallToken } from './verify';
export type { HeimdallClaims, HeimdallErrorCode, HeimdallVerifier, HeimdallVerifierOptions } from './verify';
export type { RevocationOptions } from './revocations';
export { grants, isPermission, isPermitted, isPermittedAll } from '../auth/permissions';
