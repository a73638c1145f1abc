/**
 * /v1/signing-keys (root key only, docs/tokens.md#signing-keys; `app.ts` puts `requireRoot()`
 * in front of every route here): the key ring's public view
 * and manual rotation. Private parts never appear.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { isoOrNull, isoSeconds } from '../lib/time';
import { query } from '../lib/validation';
import { actorOf } from '../middleware/admin-scope';
import { listSigningKeys, rotateSigningKeys, type KeyView } from '../services/signing-keys';
import type { SigningKeyResource } from '../openapi/resources';

function renderKey(key: KeyView): SigningKeyResource {
  return {
    kid: key.kid,
    status: key.status,
    alg: 'RS256',
    created_at: isoSeconds(key.createdAt),
    activated_at: isoOrNull(key.activatedAt),
    retired_at: isoOrNull(key.retiredAt),
    expires_at: isoOrNull(key.expiresAt),
  };
}

const listQuery = z.strictObject(paginationFields);

function renderList(keys: KeyView[], q: z.output<typeof listQuery>) {
  const p = page(q);
  return paginated(keys.slice(p.offset, p.offset + p.limit).map(renderKey), keys.length, p);
}

export const signingKeysRoutes = new Hono<AppEnv>()
  .get('/', query(listQuery), async (c) => c.json(renderList(await listSigningKeys(c.env, database(c.env), Date.now()), c.req.valid('query'))))
  .post('/rotate', async (c) => {
    const keys = await rotateSigningKeys(c.env, database(c.env), actorOf(c), Date.now(), 'admin');
    return c.json(renderList(keys, {}));
  });
