# agent-sts: build the TypeScript once, ship only dist/ and production dependencies.
# Targets: runtime (the default, last stage) and demo-idp (docker-compose's demo user IdP).
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Demo user IdP for docker-compose: oidc-provider is a dev dependency, so this image keeps the dev
# dependencies, pinned by the lock. Demo only: never a production image.
FROM deps AS demo-idp
COPY demo ./demo
USER node
EXPOSE 3000
CMD ["node", "demo/idp.mjs"]

FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# The web console's static files, served at /console (dist/http/console.js reads ../../console).
COPY console ./console
# Mount points: signing keys (STS_KEYS_DIR=keys) and the registry (STS_REGISTRY=config/registry.json).
# Production mode refuses to start without them; nothing is generated inside the image.
RUN mkdir -p keys config && chown node:node keys config
USER node
EXPOSE 8080
# Server: dist/bin/agent-sts-server.js. The operators' command: docker run ... node dist/bin/agent-sts.js <command>.
CMD ["node", "dist/bin/agent-sts-server.js"]
