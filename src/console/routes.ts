// The web console's static files at /console (public: the page itself holds
// no secrets; every API call it makes is SigV4-signed with the key the user
// types in). Files come from dist/src/console/app/, read once, served with an
// ETag and `Cache-Control: no-cache` (revalidated, 304 when unchanged).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Reply, RequestContext, Route } from '../frontend/http.js';
import { resourceNotFound } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export const CONSOLE_DIR = fileURLToPath(new URL('./app/', import.meta.url));

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return assets;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` });
  }
  return assets;
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

export function consoleRoutes(dir = CONSOLE_DIR): Route[] {
  let assets: Map<string, Asset> | undefined;
  const serve = (ctx: RequestContext, name: string): Reply => {
    assets ??= loadAssets(dir);
    const asset = assets.get(name);
    if (!asset) {
      if (name === 'index.html') throw resourceNotFound('The console is not built: run `npm run build`.');
      throw resourceNotFound(`The console has no file ${name}.`);
    }
    const headers = { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Cache-Control': 'no-cache', ETag: asset.etag };
    if (ctx.req.headers['if-none-match'] === asset.etag) return { status: 304, headers };
    return { status: 200, headers, body: asset.body };
  };
  return [
    { method: 'GET', path: '/console', operation: 'KindlingConsole', bodyLimit: 0, public: true, handle: (ctx) => serve(ctx, 'index.html') },
    {
      method: 'GET',
      path: '/console/:file',
      operation: 'KindlingConsole',
      bodyLimit: 0,
      public: true,
      handle: (ctx) => serve(ctx, ctx.params.file ?? ''),
    },
  ];
}
