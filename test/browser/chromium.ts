import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress } from 'node:zlib';

/**
 * Which Chromium the browser tests drive, first that applies:
 *   1. CHROMIUM_PATH                                   (source 'env')
 *   2. Debian's /usr/bin/chromium, when installed       (source 'debian'; DUKA_IGNORE_SYSTEM_CHROMIUM=1 skips it)
 *   3. the headless shell shipped inside the npm package @sparticuz/chromium (a devDependency), unpacked once into
 *      .tools/chromium-<version>/ with the NSS libraries and the font it ships, so a machine with neither Debian's
 *      Chromium nor libnss3 still runs the browser tests     (source 'package')
 */
export interface ChromiumExecutable {
  path: string;
  source: 'env' | 'debian' | 'package';
  /** Environment for the browser process (the packaged build's library and font paths), or undefined for ours. */
  env?: Record<string, string>;
}

const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let found: Promise<ChromiumExecutable> | undefined;

export function findChromium(): Promise<ChromiumExecutable> {
  found ??= locate();
  return found;
}

async function locate(): Promise<ChromiumExecutable> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return { path: fromEnv, source: 'env' };
  if (process.env.DUKA_IGNORE_SYSTEM_CHROMIUM !== '1' && isExecutable(DEBIAN_CHROMIUM)) return { path: DEBIAN_CHROMIUM, source: 'debian' };
  return packagedChromium();
}

/** The package's bin/ folder: chromium.br (the binary), al2023.tar.br (NSS, NSPR, expat), fonts.tar.br (Open Sans). */
function packageBin(): { bin: string; version: string } {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  } catch {
    throw new Error(`no Chromium: ${DEBIAN_CHROMIUM} is missing and @sparticuz/chromium is not installed (run \`npm install\`, or set CHROMIUM_PATH)`);
  }
  const pkg = resolve(dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  return { bin: join(pkg, 'bin'), version };
}

/**
 * Brotli-decompresses `file` into `out`, or (a .tar.br) into a .tar beside `out` and then through `tar -x` into the
 * folder `out`. Not piped into tar's stdin: tar exits at the archive's end marker without reading the padding after
 * it, and a pipe still writing then fails with "Premature close" (it did, in CI, when the machine was busy).
 */
async function unbrotli(file: string, out: string): Promise<void> {
  if (!file.endsWith('.tar.br')) {
    await pipeline(createReadStream(file), createBrotliDecompress(), createWriteStream(out, { mode: 0o755 }));
    return;
  }
  mkdirSync(out, { recursive: true });
  const archive = join(out, `.${basename(file, '.br')}`);
  await pipeline(createReadStream(file), createBrotliDecompress(), createWriteStream(archive));
  const tar = spawn('tar', ['-x', '-f', archive, '-C', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((ok, fail) => {
    tar.once('error', fail);
    tar.once('close', (code) => (code === 0 ? ok() : fail(new Error(`tar -x ${file} exited ${code}: ${stderr.trim()}`))));
  });
  rmSync(archive, { force: true });
}

async function packagedChromium(): Promise<ChromiumExecutable> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`no Chromium: @sparticuz/chromium ships linux-x64 only; install Chromium and set CHROMIUM_PATH`);
  }
  const { bin, version } = packageBin();
  const dir = join(ROOT, '.tools', `chromium-${version}`);
  const path = join(dir, 'chromium');
  if (!existsSync(path)) {
    // Unpack beside the final folder and rename it into place, so parallel jest workers never see half a browser.
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      mkdirSync(tmp, { recursive: true });
      await unbrotli(join(bin, 'chromium.br'), join(tmp, 'chromium'));
      await unbrotli(join(bin, 'al2023.tar.br'), tmp); // lib/libnss3.so and friends
      await unbrotli(join(bin, 'fonts.tar.br'), tmp); // fonts/Open_Sans (its fonts.conf points at /tmp: ours below)
      writeFileSync(
        join(tmp, 'duka-fonts.conf'),
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n' +
          '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n' +
          `  <dir>${join(dir, 'fonts')}</dir>\n  <cachedir>${join(dir, 'fonts-cache')}</cachedir>\n</fontconfig>\n`,
      );
      try {
        renameSync(tmp, dir);
      } catch (err) {
        if (!existsSync(path)) throw err; // another worker won the race: use its copy
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const libs = join(dir, 'lib');
  return {
    path,
    source: 'package',
    env: {
      LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
      FONTCONFIG_FILE: join(dir, 'duka-fonts.conf'),
    },
  };
}
