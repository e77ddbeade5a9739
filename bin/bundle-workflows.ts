import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundleWorkflows, PREBUILT_BUNDLE } from '../workers/worker.ts';

// Production workers load this bundle instead of running webpack at start-up.
const bundle = await bundleWorkflows();
mkdirSync(dirname(PREBUILT_BUNDLE), { recursive: true });
writeFileSync(PREBUILT_BUNDLE, bundle.code);
console.log(`workflow bundle: ${PREBUILT_BUNDLE} (${Math.round(bundle.code.length / 1024)} KiB)`);
