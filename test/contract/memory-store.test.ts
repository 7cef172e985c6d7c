import { MemorySessionStore } from '../../src/store/memory/session-store.js';
import { sessionStoreContract } from './session-store.contract.js';

sessionStoreContract('memory', async () => {
  const store = new MemorySessionStore();
  return { store, wallClockReplayExpiry: false, snapshot: async () => store.snapshot(), close: () => store.close() };
});
