/**
 * GET /v1/openapi.json (the OpenAPI 3.1 document, generated from the router)
 * and GET /docs (a readable page rendered from it, no external assets).
 * Public and cacheable, like the JWKS.
 */
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import type { AppEnv } from '../lib/context';
import { publicBase } from '../lib/public-base';
import { buildOpenApiDocument, type RouteClasses, type RouteEntry } from '../openapi/document';

const CACHE_CONTROL = 'public, max-age=300';
const documents = new Map<string, Record<string, unknown>>();

interface Operation {
  summary: string;
  description?: string;
  tags: string[];
  parameters: { name: string; in: string; required: boolean }[];
  requestBody?: { content: Record<string, { example?: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { example?: unknown }> }>;
  security: Record<string, string[]>[];
}

function renderPage(doc: Record<string, unknown>) {
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const byTag = new Map<string, { method: string; path: string; op: Operation }[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags[0] ?? 'Other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), { method: method.toUpperCase(), path, op }]);
    }
  }
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  const auth = (op: Operation) =>
    op.security.length === 0 ? 'none' : op.security.map((s) => Object.keys(s)[0] ?? 'none (optional)').join(' or ');
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Heimdall API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
.op{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.m{font-weight:700;font-family:ui-monospace,monospace;padding:.1rem .4rem;border-radius:4px;background:#eef}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:4px}
.muted{color:#57606a}
</style></head>
<body>
<h1>Heimdall API</h1>
<p>${(doc.info as { description: string }).description} Machine-readable: <a href="../v1/openapi.json">/v1/openapi.json</a>.</p>
${[...byTag].map(
  ([tag, ops]) => html`<h2>${tag}</h2>
${ops.map(
  ({ method, path, op }) => html`<div class="op"><p><span class="m">${method}</span> <code>${path}</code> ${op.summary}</p>
${op.description ? html`<p class="muted">${op.description}</p>` : ''}
<p class="muted">Auth: ${auth(op)}. Parameters: ${op.parameters.length ? op.parameters.map((p) => `${p.name} (${p.in}${p.required ? ', required' : ''})`).join(', ') : 'none'}.
Answers: ${Object.keys(op.responses).join(', ')}.</p>
${op.requestBody && Object.values(op.requestBody.content)[0]?.example !== undefined
  ? html`<p>Request</p><pre>${json(Object.values(op.requestBody.content)[0]!.example)}</pre>` : ''}
${Object.entries(op.responses).slice(0, 1).map(([, r]) => {
  const example = r.content ? Object.values(r.content)[0]?.example : undefined;
  return example === undefined ? '' : html`<p>Response</p><pre>${json(example)}</pre>`;
})}
</div>`,
)}`,
)}
${raw('')}
</body></html>`;
}

/** The routes are read when the document is first asked for, so every route mounted by then is in it. */
export function docsRoutes(routes: () => readonly RouteEntry[], classes: RouteClasses) {
  const documentFor = (base: string) => {
    let doc = documents.get(base);
    if (!doc) {
      doc = buildOpenApiDocument(routes(), classes, base);
      documents.set(base, doc);
    }
    return doc;
  };
  return new Hono<AppEnv>()
    .get('/v1/openapi.json', (c) => c.json(documentFor(publicBase(c)), 200, { 'Cache-Control': CACHE_CONTROL, 'Access-Control-Allow-Origin': '*' }))
    .get('/docs', async (c) => {
      const page = await renderPage(documentFor(publicBase(c)));
      return c.html(page, 200, {
        'Cache-Control': CACHE_CONTROL,
        // Inline styles only; no script, no external asset.
        'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      });
    });
}
