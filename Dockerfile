# agent-sts: build the TypeScript once, ship only the two dist/ folders and production dependencies.
# An npm workspace: the server at the root, the resource-server gate in packages/gate, which the
# server imports by name (node_modules/agent-sts-gate links to packages/gate; its dist/ is what runs).
# Targets: runtime (the default, last stage) and demo-idp (docker-compose's demo user IdP).
# Node 22 LTS in the images; the code itself runs on Node 20.19 and later.
FROM node:22-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/gate/package.json ./packages/gate/
RUN npm ci

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY packages/gate/tsconfig.json packages/gate/tsconfig.build.json ./packages/gate/
COPY packages/gate/src ./packages/gate/src
COPY src ./src
# The gate's dist/ first, then the server's (which resolves the gate's built types).
RUN npm run build

# Demo user IdP for docker-compose: oidc-provider is a dev dependency, so this image keeps the dev
# dependencies, pinned by the lock. Demo only: never a production image.
FROM deps AS demo-idp
COPY demo ./demo
USER node
EXPOSE 3000
CMD ["node", "demo/idp.mjs"]

FROM node:22-slim AS runtime
ENV NODE_ENV=production
# Every interface of the container (its network is the boundary), also when compose runs it in
# development mode, whose default is 127.0.0.1: unreachable through a published port.
ENV HOST=0.0.0.0
WORKDIR /app
# The workspace's manifest must be there for npm ci to link agent-sts-gate and install its jose.
COPY package.json package-lock.json ./
COPY packages/gate/package.json ./packages/gate/
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/packages/gate/dist ./packages/gate/dist
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
