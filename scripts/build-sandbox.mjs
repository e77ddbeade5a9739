#!/usr/bin/env node
// Builds the sandbox pages (sandbox/web → sandbox/web/dist) with Vite, only when their sources changed or dist is
// missing: otherwise it is a fast no-op. Used by `npm start`, the Dockerfile and the browser tests.
//   node scripts/build-sandbox.mjs [--force]
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'sandbox', 'web');
const dist = join(web, 'dist');
const stamp = join(dist, '.source-hash');
const PAGES = ['index.html', 'admin.html'];

/** Every source file of the pages (and the server types they import), plus the Vite version. */
function sourceHash() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (path !== dist && entry.name !== 'node_modules') walk(path);
      } else {
        hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
      }
    }
  };
  walk(web);
  hash.update(import.meta.url.endsWith('.mjs') ? readFileSync(fileURLToPath(import.meta.url)) : '');
  const vitePackage = join(root, 'node_modules', 'vite', 'package.json');
  hash.update(existsSync(vitePackage) ? JSON.parse(readFileSync(vitePackage, 'utf8')).version : 'no-vite');
  return hash.digest('hex');
}

const force = process.argv.includes('--force');
const wanted = sourceHash();
const built = PAGES.every((p) => existsSync(join(dist, p))) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === wanted;
if (built && !force) process.exit(0);

let vite;
try {
  vite = await import('vite');
} catch {
  if (PAGES.every((p) => existsSync(join(dist, p)))) {
    console.warn('duka: Vite is not installed (production install?): keeping the sandbox pages already built.');
    process.exit(0);
  }
  console.warn('duka: Vite is not installed, so the sandbox pages cannot be built (run `npm install`). The API still works.');
  process.exit(0);
}

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
await vite.build({
  root: web,
  base: './',
  configFile: false,
  logLevel: 'warn',
  clearScreen: false,
  publicDir: false,
  build: {
    outDir: dist,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: { input: Object.fromEntries(PAGES.map((p) => [p.replace(/\.html$/, ''), join(web, p)])) },
  },
});
writeFileSync(stamp, `${wanted}\n`);
console.log(`duka: sandbox pages built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
