/**
 * Static checks of the packaging (no Docker engine here): docker-compose.yml, Dockerfile and .dockerignore agree
 * with package.json, CONTRACT.md and lib/search-attributes.ts. `.ci/run` also runs `docker-compose config`.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | null>;
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  ports?: string[];
  restart?: string;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };

/** CONTRACT.md's configuration table, or (without ../shared) the same names as of writing. */
function contractVariables(): Set<string> {
  const contract = join(ROOT, '..', 'shared', 'CONTRACT.md');
  if (!existsSync(contract)) {
    return new Set(
      ('PORT PUBLIC_BASE_URL DATABASE_URL TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_TASK_QUEUE TEMPORAL_UI_PORT ADMIN_TOKEN ' +
        'SANDBOX WHATSAPP_GRAPH_URL WHATSAPP_API_VERSION WHATSAPP_ACCESS_TOKEN WHATSAPP_APP_SECRET WHATSAPP_VERIFY_TOKEN ' +
        'WHATSAPP_FLOWS_PRIVATE_KEY MPESA_BASE_URL MPESA_CONSUMER_KEY MPESA_CONSUMER_SECRET MPESA_SHORTCODE MPESA_PASSKEY ' +
        'PAYNOW_BASE_URL PAYNOW_INTEGRATION_ID PAYNOW_INTEGRATION_KEY OMARI_BASE_URL OMARI_MERCHANT_KEY RAZORPAY_BASE_URL ' +
        'RAZORPAY_KEY_ID RAZORPAY_KEY_SECRET RAZORPAY_WEBHOOK_SECRET').split(' '),
    );
  }
  const text = readFileSync(contract, 'utf8');
  const section = text.slice(text.indexOf('## Configuration'));
  const table = section.slice(0, section.indexOf('\n## ') > 0 ? section.indexOf('\n## ') : undefined);
  const names = new Set<string>();
  for (const line of table.split('\n')) {
    if (!line.startsWith('|')) continue;
    const firstCell = line.split('|')[1] ?? '';
    for (const m of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1]!);
  }
  return names;
}

/** `node bin/x.ts` of an npm script such as "npm run guard && node bin/api.ts". */
function entryPoint(script: string): string[] {
  const m = pkg.scripts[script]?.match(/\bnode\s+(bin\/[\w.-]+\.ts)\b/);
  if (!m) throw new Error(`package.json script ${script} does not run node bin/….ts`);
  return ['node', m[1]!];
}

const asArray = (value: string[] | string | undefined) => (typeof value === 'string' ? value.split(/\s+/) : (value ?? []));
const dependsOn = (service: Service) =>
  Array.isArray(service.depends_on)
    ? Object.fromEntries(service.depends_on.map((name) => [name, { condition: 'service_started' }]))
    : (service.depends_on ?? {});

/** The last stage of the Dockerfile: its FROM, USER, ENV and CMD lines (continuations joined). */
function dockerfile() {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'));
  const args = Object.fromEntries(lines.filter((l) => /^ARG\s+\w+=/.test(l)).map((l) => l.replace(/^ARG\s+/, '').split('=') as [string, string]));
  const lastFrom = lines.map((l, i) => (l.startsWith('FROM ') ? i : -1)).filter((i) => i >= 0).at(-1)!;
  const final = lines.slice(lastFrom);
  const cmd = final.filter((l) => l.startsWith('CMD ')).at(-1);
  return {
    args,
    froms: lines.filter((l) => l.startsWith('FROM ')),
    user: final.filter((l) => l.startsWith('USER ')).at(-1)?.slice(5).trim(),
    cmd: cmd ? (JSON.parse(cmd.slice(4)) as string[]) : undefined,
    text: lines.join('\n'),
  };
}

describe('docker-compose.yml', () => {
  it('has the services duka needs', () => {
    for (const name of ['postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'migrate', 'api', 'worker', 'prometheus']) {
      expect(services).toHaveProperty([name]);
    }
  });

  it('gives every service an image or a build', () => {
    for (const [name, service] of Object.entries(services)) {
      expect({ name, ok: Boolean(service.image || service.build) }).toEqual({ name, ok: true });
    }
  });

  it('runs api, worker and migrate with the entry points of the npm scripts', () => {
    expect(asArray(services.api!.command)).toEqual(entryPoint('api'));
    expect(asArray(services.worker!.command)).toEqual(entryPoint('worker'));
    expect(asArray(services.migrate!.command)).toEqual(entryPoint('migrate'));
    for (const name of ['api', 'worker', 'migrate']) expect(services[name]!.build).toBeDefined();
  });

  it('configures api and worker with CONTRACT.md variables only, and passes every one to the api', () => {
    const contract = contractVariables();
    expect(contract.size).toBeGreaterThan(20);
    for (const name of ['api', 'worker', 'migrate']) {
      const unknown = Object.keys(services[name]!.environment ?? {}).filter((v) => !contract.has(v));
      expect({ service: name, unknown }).toEqual({ service: name, unknown: [] });
    }
    const apiEnv = Object.keys(services.api!.environment ?? {});
    expect([...contract].filter((v) => !apiEnv.includes(v))).toEqual([]);
  });

  it('points duka at the compose PostgreSQL and Temporal', () => {
    for (const name of ['api', 'worker', 'migrate']) {
      const env = services[name]!.environment!;
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(String(env.DATABASE_URL)).toMatch(/^postgres:\/\/[^@]+@postgresql:5432\/\w+$/);
    }
    expect(services.api!.ports).toContain('3000-3003:3000');
    expect(services['temporal-ui']!.ports).toEqual(['${TEMPORAL_UI_PORT:-8233}:8080']);
  });

  it('registers every search attribute of lib/search-attributes.ts in the setup service', () => {
    const setup = services['temporal-setup']!;
    const registered = Object.fromEntries(
      String(setup.environment?.DUKA_SEARCH_ATTRIBUTES ?? '')
        .trim()
        .split(/\s+/)
        .map((spec) => spec.split('=') as [string, string]),
    );
    expect(registered).toEqual(SEARCH_ATTRIBUTES);
    expect(asArray(setup.entrypoint)).toEqual(['/bin/sh', '/duka-ops/setup.sh']);
  });

  it('mounts files that exist in the repository', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('./')) continue;
        expect({ name, source, exists: existsSync(join(ROOT, source)) }).toEqual({ name, source, exists: true });
      }
    }
    for (const script of ['ops/temporal/setup.sh', 'ops/temporal/schema.sh']) expect(existsSync(join(ROOT, script))).toBe(true);
  });

  it('has healthchecks on postgresql, temporal and api (on /ready)', () => {
    for (const name of ['postgresql', 'temporal', 'api']) expect(services[name]!.healthcheck?.test).toBeDefined();
    expect(asArray(services.api!.healthcheck!.test).join(' ')).toContain('/ready');
  });

  it('orders start-up with depends_on conditions on existing services, without cycles', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [target, { condition }] of Object.entries(dependsOn(service))) {
        expect({ name, target, exists: target in services }).toEqual({ name, target, exists: true });
        expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
        if (condition === 'service_healthy') expect({ target, healthcheck: Boolean(services[target]!.healthcheck) }).toEqual({ target, healthcheck: true });
        if (condition === 'service_completed_successfully') expect({ target, restart: services[target]!.restart }).toEqual({ target, restart: 'no' });
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, path: string[]) => {
      if (done.has(name)) return;
      if (visiting.has(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
      visiting.add(name);
      for (const target of Object.keys(dependsOn(services[name]!))) visit(target, [...path, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name, []);
    for (const name of ['api', 'worker']) {
      expect(dependsOn(services[name]!)).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
  });
});

describe('Prometheus beside the compose file', () => {
  const prometheus = parse(read('ops/prometheus/prometheus.yml')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path?: string; dns_sd_configs: { names: string[]; type: string; port: number }[] }[];
  };
  const alerts = parse(read('ops/prometheus/alerts.yml')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const rules = alerts.groups.flatMap((g) => g.rules);

  it('runs a prometheus service with ops/prometheus mounted where its command reads the config', () => {
    const service = services.prometheus!;
    expect(service.image).toMatch(/^prom\/prometheus:/);
    const mount = (service.volumes ?? []).find((v) => v.startsWith('./ops/prometheus:'))!;
    const target = mount.split(':')[1]!;
    expect(asArray(service.command)).toContain(`--config.file=${target}/prometheus.yml`);
    for (const file of prometheus.rule_files) expect(file.startsWith(`${target}/`) && existsSync(join(ROOT, 'ops/prometheus', file.slice(target.length + 1)))).toBe(true);
    expect(dependsOn(service)).toMatchObject({ api: { condition: 'service_healthy' }, worker: { condition: 'service_started' } });
  });

  it('scrapes the api on its port and the worker on WORKER_METRICS_PORT', () => {
    // Every replica of a scaled service is found through the service's DNS name.
    const targets = Object.fromEntries(prometheus.scrape_configs.map((c) => [c.job_name, { path: c.metrics_path ?? '/metrics', targets: c.dns_sd_configs.flatMap((s) => s.names.map((n) => `${n}:${s.port}`)) }]));
    expect(targets['duka-api']).toEqual({ path: '/metrics', targets: [`api:${services.api!.environment!.PORT}`] });
    const workerPort = /:-(\d+)\}/.exec(String(services.worker!.environment!.WORKER_METRICS_PORT))![1];
    expect(targets['duka-worker']).toEqual({ path: '/metrics', targets: [`worker:${workerPort}`] });
  });

  it('alerts on webhook p99, 5xx, hand-off failures, failing payments, worker slots and schedule-to-start latency', () => {
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r.expr]));
    expect(byName.DukaWebhookSlow).toMatch(/histogram_quantile\(0\.99,.*duka_whatsapp_webhook_duration_seconds_bucket.*> 1$/s);
    expect(byName.DukaHttp5xx).toContain('status_class="5xx"');
    expect(byName.DukaHandOffFailing).toContain('duka_whatsapp_handoff_failures_total');
    expect(byName.DukaPaymentsFailing).toContain('duka_payments_total{result="failed"}');
    expect(byName.DukaWorkerSlotsExhausted).toContain('temporal_worker_task_slots_available');
    expect(byName.DukaScheduleToStartSlow).toContain('schedule_to_start_latency_bucket');
  });

  it('names in rules and the Grafana dashboard only series duka or the Temporal SDK exports', () => {
    const dashboard = JSON.parse(read('ops/grafana/duka-dashboard.json')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = [...rules.map((r) => r.expr), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    const known = new Set(read('lib/metrics.ts').match(/duka_[a-z_]+/g));
    known.add('duka_orders');
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\bduka_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        expect({ name, known: known.has(base) || name.startsWith('duka_process_') }).toEqual({ name, known: true });
      }
    }
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
  });
});

describe('Dockerfile', () => {
  const docker = dockerfile();

  it('builds on the pinned Node 24 (bookworm-slim) in every stage', () => {
    expect(docker.args.NODE_VERSION).toBe(pkg.devDependencies.node);
    expect(docker.froms.length).toBeGreaterThanOrEqual(2);
    for (const from of docker.froms) expect(from).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim\b/);
  });

  it('installs without the Temporal dev server, bundles the workflows and drops dev dependencies', () => {
    expect(docker.text).toMatch(/DUKA_SKIP_TEMPORAL_INSTALL=1/);
    expect(docker.text).toMatch(/RUN npm ci\b/);
    expect(docker.text).toMatch(/npm run build:workflows/);
    expect(docker.text).toMatch(/npm prune --omit=dev/);
  });

  it('runs the api as an unprivileged user by default', () => {
    expect(docker.user).toBeDefined();
    expect(['root', '0']).not.toContain(docker.user);
    expect(docker.cmd).toEqual(entryPoint('api'));
  });

  it('keeps dependencies, data and tools out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', '.data', '.tools', 'dist', '.git']) expect(ignored).toContain(entry);
  });
});
