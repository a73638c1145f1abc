/**
 * GET /v1/apps/:app_name/.well-known/oauth-authorization-server: the app's
 * authorization server metadata (RFC 8414), so stock OAuth clients can find
 * the token endpoint, the JWKS and what the endpoint accepts. Public: no key,
 * no rate limit (app.ts lists it in PUBLIC_APP_ROUTES); edges cache it.
 */
import { Hono } from 'hono';
import { CLIENT_AUTH_METHODS } from '../auth/client-authentication';
import { database } from '../db/client';
import type { AppEnv } from '../lib/context';
import { issuer, publicBase } from '../lib/public-base';
import { requireApp } from '../services/apps';
import { GRANT_TYPES } from './tokens';

/** As long as the JWKS: the document only changes with a deployment. */
export const DISCOVERY_CACHE_CONTROL = 'public, max-age=300';

export const discoveryRoutes = new Hono<AppEnv>().get('/oauth-authorization-server', async (c) => {
  const app = await requireApp(database(c.env), c.req.param('app_name')!);
  const base = publicBase(c);
  const appBase = `${base}/v1/apps/${encodeURIComponent(app.name)}`;
  return c.json(
    {
      // The `iss` of every token: one issuer signs for every app, each app is an audience.
      issuer: issuer(c),
      token_endpoint: `${appBase}/tokens`,
      jwks_uri: `${base}/v1/.well-known/jwks.json`,
      revocation_endpoint: `${appBase}/tokens/revoke`,
      grant_types_supported: [...GRANT_TYPES],
      // REQUIRED by RFC 8414; empty because there is no authorization endpoint (no browser flows).
      response_types_supported: [],
      token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
      // Revocation takes the refresh token alone: holding it is the authority to end it.
      revocation_endpoint_auth_methods_supported: ['none'],
    },
    200,
    { 'Cache-Control': DISCOVERY_CACHE_CONTROL },
  );
});
