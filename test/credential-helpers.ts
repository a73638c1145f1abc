/**
 * Helpers for the service-credential suites: credentials created through the
 * API, and `grant_type=client_credentials` sent the three ways a client can
 * send it (JSON body, form body, HTTP Basic).
 */
import { expect } from 'vitest';
import { api, freshIp, type ApiResponse } from './helpers';

/** The reference example's credential. */
export const BILLING = { name: 'billing-service', permissions: ['billing:read', 'billing:write'] };

/** Creates a credential through the API (root key); returns the create answer, `client_secret` included. */
export async function createCredential(appName: string, body: Record<string, unknown> = BILLING): Promise<any> {
  const res = await api('POST', `/v1/apps/${appName}/credentials`, { body });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

export type GrantStyle = 'json' | 'form' | 'basic';

/** RFC 6749 §2.3.1: each half form-urlencoded, then joined by a colon and base64-encoded. */
export function basicHeader(clientId: string, clientSecret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${btoa(`${enc(clientId)}:${enc(clientSecret)}`)}`;
}

/** `grant_type=client_credentials` on the app's token endpoint, as a stock client sends it. */
export async function clientCredentials(
  appName: string,
  clientId: string,
  clientSecret: string,
  style: GrantStyle = 'json',
  options: { ip?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { 'CF-Connecting-IP': options.ip ?? freshIp(), ...options.headers };
  const path = `/v1/apps/${appName}/tokens`;
  switch (style) {
    case 'json':
      return api('POST', path, { key: null, headers, body: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret } });
    case 'form':
      return api('POST', path, {
        key: null,
        headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' },
        raw: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString(),
      });
    case 'basic':
      return api('POST', path, {
        key: null,
        headers: { ...headers, Authorization: basicHeader(clientId, clientSecret), 'Content-Type': 'application/x-www-form-urlencoded' },
        raw: 'grant_type=client_credentials',
      });
  }
}
