#!/usr/bin/env node
// Builds the sandbox chat (sandbox/web → sandbox/web/dist) and the admin dashboard (dashboard → dashboard/dist) with
// Vite, only when their sources changed or a dist is missing: otherwise it is a fast no-op. Used by `npm start`, the
// Dockerfile and the browser tests.
//   node scripts/build-sandbox.mjs [--force]
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Each Vite build: its root, its HTML entry points and where they go. */
const TARGETS = [
  { root: join(root, 'sandbox', 'web'), pages: ['index.html'] },
  { root: join(root, 'dashboard'), pages: ['index.html'] },
].map((t) => ({ ...t, dist: join(t.root, 'dist') }));
/** Sources outside the roots that the pages import. */
const SHARED = [join(root, 'domain', 'money.ts')];
const isBuilt = (t) => t.pages.every((p) => existsSync(join(t.dist, p)));

/** Every source file of the pages (and what they import from elsewhere), plus the Vite version. */
function sourceHash() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'dist' && entry.name !== 'node_modules') walk(path);
      } else {
        hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
      }
    }
  };
  for (const t of TARGETS) walk(t.root);
  for (const file of SHARED) hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  hash.update(import.meta.url.endsWith('.mjs') ? readFileSync(fileURLToPath(import.meta.url)) : '');
  const vitePackage = join(root, 'node_modules', 'vite', 'package.json');
  hash.update(existsSync(vitePackage) ? JSON.parse(readFileSync(vitePackage, 'utf8')).version : 'no-vite');
  return hash.digest('hex');
}

const force = process.argv.includes('--force');
const wanted = sourceHash();
const stampOf = (t) => join(t.dist, '.source-hash');
const built = TARGETS.every((t) => isBuilt(t) && existsSync(stampOf(t)) && readFileSync(stampOf(t), 'utf8').trim() === wanted);
if (built && !force) process.exit(0);

let vite;
try {
  vite = await import('vite');
} catch {
  if (TARGETS.every(isBuilt)) {
    console.warn('duka: Vite is not installed (production install?): keeping the sandbox pages already built.');
    process.exit(0);
  }
  console.warn('duka: Vite is not installed, so the sandbox pages cannot be built (run `npm install`). The API still works.');
  process.exit(0);
}

const started = Date.now();
for (const t of TARGETS) {
  rmSync(t.dist, { recursive: true, force: true });
  await vite.build({
    root: t.root,
    base: './',
    configFile: false,
    logLevel: 'warn',
    clearScreen: false,
    publicDir: false,
    build: {
      outDir: t.dist,
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: false,
      reportCompressedSize: false,
      rollupOptions: { input: Object.fromEntries(t.pages.map((p) => [p.replace(/\.html$/, ''), join(t.root, p)])) },
    },
  });
  writeFileSync(stampOf(t), `${wanted}\n`);
}
console.log(`duka: sandbox and dashboard pages built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
