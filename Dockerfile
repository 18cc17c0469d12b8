# Production image: Node 24 LTS, running the tsc build (dist/). The build
# stage compiles src/ with dev dependencies; the runtime stage has only the
# production dependencies, the JavaScript, the schema, and the sources the
# operator's scripts run from.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production PORT=4001
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY schema ./schema
COPY --from=build /app/dist ./dist
# For the operator's scripts (`npm run identifiers:retire`), which tsx (a production dependency) runs from source.
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 4001
# Liveness, not readiness: a platform that replaces unhealthy containers (Swarm, ECS) would restart every replica
# through a Redis outage, which the process rides out by itself (/health/ready is for the load balancer). It asks the
# address HOST names (127.0.0.1 when HOST is a wildcard): `HOST=::1` or a pod IP failed it for good (a probe).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 --start-period=120s \
  CMD node -e "const h=process.env.HOST||'';const a=!h||h==='0.0.0.0'||h==='::'?'127.0.0.1':h.includes(':')?'['+h+']':h;fetch('http://'+a+':'+(process.env.PORT||4001)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# `docker stop` waits 10 s before SIGKILL; the server's grace is SHUTDOWN_GRACE_SECONDS (25 s): give it 30
# (`docker stop -t 30`, compose's stop_grace_period).
STOPSIGNAL SIGTERM
# V8 heap settings (measured in README, Performance): a 16 MB semi-space and a
# 1.5x heap growing factor keep RSS under 300 MB at 500-entity batches.
# bench/ and test/production-build.test.ts read the flags from this line.
CMD ["node", "--max-semi-space-size=16", "--heap-growing-percent=50", "dist/main.js"]
