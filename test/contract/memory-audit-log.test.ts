import { MemoryAuditLog } from '../../src/store/memory/audit-log.js';
import { auditLogContract } from './audit-log.contract.js';

auditLogContract('memory', async () => ({ log: new MemoryAuditLog(), close: async () => {} }));
