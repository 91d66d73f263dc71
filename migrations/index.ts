import { Initial1795754253700 } from './1795754253700-Initial';
import { ReserveSettleFunctions1795758000000 } from './1795758000000-ReserveSettleFunctions';
import { BatchedReserveSettle1795764303474 } from './1795764303474-BatchedReserveSettle';

// Every migration, in order. `npm run migration:generate migrations/Name` writes a new file;
// add its class here. Landed migrations are never edited.
export const MIGRATIONS = [
  Initial1795754253700,
  ReserveSettleFunctions1795758000000,
  BatchedReserveSettle1795764303474,
];
