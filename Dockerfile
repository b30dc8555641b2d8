# The Sonic generate service (app/). Non-root, and fine with a read-only root filesystem: it writes
# nothing but /tmp, which the Deployment mounts as an emptyDir.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.app.json ./
COPY contract ./contract
COPY app ./app
RUN npx tsc -p tsconfig.app.json && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=8080
WORKDIR /srv
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist-app ./
# The alert analyst quotes the runbooks' steps in its reports.
COPY docs/runbooks.md ./docs/runbooks.md
USER 10001:10001
EXPOSE 8080
# Exec form: node is PID 1 and receives SIGTERM itself, so the drain in each entrypoint runs. The
# default is the API tier; the same image runs the worker tier with `node app/worker/main.js`, the
# SIMULATED model server with `node app/simulated-model-server-main.js` (GPU-less clusters) and the
# alert analyst with `node app/alert-analyst-main.js`.
CMD ["node", "app/api/main.js"]
