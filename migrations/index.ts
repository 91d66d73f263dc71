import { Initial1795754253700 } from './1795754253700-Initial';
import { ReserveSettleFunctions1795758000000 } from './1795758000000-ReserveSettleFunctions';
import { BatchedReserveSettle1795764303474 } from './1795764303474-BatchedReserveSettle';
import { HoldLifecycle1796119169849 } from './1796119169849-HoldLifecycle';
import { LedgerFunctionsFromFiles1796119169850 } from './1796119169850-LedgerFunctionsFromFiles';
import { TokenClasses1796122955189 } from './1796122955189-TokenClasses';
import { ManagedBy1796126333093 } from './1796126333093-ManagedBy';
import { UsageRollups1796126380500 } from './1796126380500-UsageRollups';
import { ActiveHoldsIndex1796172724051 } from './1796172724051-ActiveHoldsIndex';

// Every migration, in order. `npm run migration:generate migrations/Name` writes a new file;
// add its class here. Landed migrations are never edited. The ledger's SQL functions are not
// migrations: they live in src/db/sql/ and are applied after these (src/db/sql-functions.ts).
export const MIGRATIONS = [
  Initial1795754253700,
  ReserveSettleFunctions1795758000000,
  BatchedReserveSettle1795764303474,
  HoldLifecycle1796119169849,
  LedgerFunctionsFromFiles1796119169850,
  TokenClasses1796122955189,
  ManagedBy1796126333093,
  UsageRollups1796126380500,
  ActiveHoldsIndex1796172724051,
];
