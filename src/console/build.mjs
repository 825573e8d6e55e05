// Builds the console (run by `npm run build` and `prepare`): compiles the
// browser app src/console/app/*.ts with its own tsconfig (DOM, ES modules)
// to dist/src/console/app/, and copies its HTML and CSS beside it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const app = path.join(here, 'app');
const out = path.join(root, 'dist', 'src', 'console', 'app');
const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', path.join(app, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
} catch {
  console.error('console: the browser app does not compile (see above)');
  process.exit(1);
}
mkdirSync(out, { recursive: true });
for (const f of readdirSync(app)) if (/\.(html|css|svg|png)$/.test(f)) copyFileSync(path.join(app, f), path.join(out, f));
