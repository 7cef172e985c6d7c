/**
 * The `agent-sts` package entry: the pieces `main()` boots from, for a host that embeds agent-sts or
 * a test that wires it. Importing it starts nothing.
 */
export { createApp } from './app.js';
export { ConfigError, loadConfig, type Config } from './config/index.js';
export { buildDeps, buildStores, type Deps, type DepsOverrides } from './deps.js';
export { main } from './main.js';
export * from 'agent-sts-gate/protocol';
