/**
 * Public documents (JWKS, revocation feeds): a JSON body with a
 * `Cache-Control` that lets edges cache it, open to any origin, and an ETag
 * so a client polling an unchanged document gets a 304.
 */
import type { Context } from 'hono';
import { sha256, toHex } from '../auth/secrets';

const etags = new Map<string, string>();

async function etagOf(body: string): Promise<string> {
  let etag = etags.get(body);
  if (!etag) {
    etag = `"${toHex(await sha256(body)).slice(0, 32)}"`;
    // A handful of distinct documents live at once; keep the recent ones.
    if (etags.size >= 256) etags.delete(etags.keys().next().value!);
    etags.set(body, etag);
  }
  return etag;
}

export async function cacheableJson(c: Context, body: string, cacheControl: string): Promise<Response> {
  const etag = await etagOf(body);
  const headers = {
    'Cache-Control': cacheControl,
    'Access-Control-Allow-Origin': '*',
    ETag: etag,
    'Content-Type': 'application/json; charset=utf-8',
  };
  if (c.req.header('If-None-Match') === etag) return c.body(null, 304, headers);
  return c.body(body, 200, headers);
}
