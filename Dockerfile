# agent-sts: build the TypeScript once, ship only dist/ and production dependencies.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# Mount points: signing keys (STS_KEYS_DIR=keys) and the registry (STS_REGISTRY=config/registry.json).
# Production mode refuses to start without them; nothing is generated inside the image.
RUN mkdir -p keys config && chown node:node keys config
USER node
EXPOSE 8080
CMD ["node", "dist/bin/agent-sts-server.js"]
