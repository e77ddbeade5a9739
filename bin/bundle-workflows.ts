import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundleWorkflows, PREBUILT_BUNDLE, PREBUILT_TRACED_BUNDLE } from '../workers/worker.ts';

// Production workers load one of these bundles instead of running webpack at start-up: the traced one when
// OTEL_EXPORTER_OTLP_ENDPOINT is set.
for (const [path, traced] of [[PREBUILT_BUNDLE, false], [PREBUILT_TRACED_BUNDLE, true]] as const) {
  const bundle = await bundleWorkflows({ traced });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bundle.code);
  console.log(`workflow bundle: ${path} (${Math.round(bundle.code.length / 1024)} KiB)`);
}
