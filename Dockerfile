# syntax=docker/dockerfile:1
# duka's production image: one image, two processes, configured only by environment (CONTRACT.md).
#   api (default):  docker run … duka                       → node bin/api.ts
#   worker:         docker run … duka node bin/worker.ts    (loads the prebuilt dist/workflow-bundle.js, or -traced.js when tracing)
# Node runs the .ts entry points directly (type stripping). The image's own Node is the pinned one, so the
# processes start as `node bin/….ts` (PID 1 gets the signals) rather than through npm.
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# The image needs no Temporal dev server or test server (.tools/ stays empty).
ENV DUKA_SKIP_TEMPORAL_INSTALL=1 \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json .npmrc ./
COPY scripts/ ./scripts/
RUN npm ci
COPY . .
# Workflow bundle (build:workflows runs under the pinned node from node_modules/.bin, like every npm script),
# the sandbox web assets where the project has them, then production dependencies only.
RUN npm run build:workflows \
 && test -s dist/workflow-bundle.js && test -s dist/workflow-bundle-traced.js \
 && if [ -f scripts/build-sandbox.mjs ]; then node scripts/build-sandbox.mjs; fi \
 && npm prune --omit=dev \
 && arch="$(uname -m)-unknown-linux-gnu" \
 && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} + \
 && rm -rf test bench .ci .tools coverage test-artifacts

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
# Owned by root, run as the image's unprivileged `node` user: the code cannot be changed at run time.
COPY --from=build /app /app
USER node
EXPOSE 3000
CMD ["node", "bin/api.ts"]
