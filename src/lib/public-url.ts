/**
 * URLs Heimdall hands out (CONTRACT §1, §10): the public base is
 * `PUBLIC_BASE_URL` (default: the request's origin) followed by `BASE_PATH`.
 */
import { config } from '../env';
import type { AppContext } from './context';

/** The public URL of `pathAndQuery`, a path inside the Worker such as `/v1/apps`. */
export function publicUrl(c: AppContext, pathAndQuery: string): string {
  const { publicBaseUrl, basePath } = config(c.env);
  return `${publicBaseUrl || new URL(c.req.url).origin}${basePath}${pathAndQuery}`;
}
