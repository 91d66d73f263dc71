import type { Logger } from '../../shared/logger';

/** A secret this start generated: shown once (main.ts prints it), never stored in the clear. */
export interface GeneratedSecret {
  project: string;
  kind: 'API key' | 'webhook secret';
  name: string;
  secret: string;
}

/** What one start did with the file; each object as `kind project/name` ("model demo/gpt-4.1"). */
export interface ConfigFileReport {
  file: string;
  owner: string;
  created: string[];
  updated: string[];
  unchanged: number;
  /** Objects the file made that it no longer lists: kept unless pruning. */
  unlisted: string[];
  /** Of those, what this start deleted (keys: revoked; projects: given back to the API). */
  pruned: string[];
  /** Of those, what pruning had to keep, and why (a provider that API-made models still use). */
  kept: string[];
  secrets: GeneratedSecret[];
}

export function emptyReport(file: string, owner: string): ConfigFileReport {
  return {
    file,
    owner,
    created: [],
    updated: [],
    unchanged: 0,
    unlisted: [],
    pruned: [],
    kept: [],
    secrets: [],
  };
}

/** One line of what changed; a warning for what the file no longer lists (never its secrets). */
export function logReport(log: Logger, report: ConfigFileReport, prune: boolean): void {
  log.info(
    {
      file: report.file,
      managedBy: report.owner,
      created: report.created,
      updated: report.updated,
      unchanged: report.unchanged,
      pruned: report.pruned,
    },
    report.created.length + report.updated.length + report.pruned.length === 0
      ? 'configuration file applied: nothing to change'
      : 'configuration file applied',
  );
  if (report.kept.length > 0) {
    log.warn(
      { file: report.file, kept: report.kept },
      'pruning kept these objects the configuration file no longer lists',
    );
  }
  if (report.unlisted.length > 0 && !prune) {
    log.warn(
      { file: report.file, unlisted: report.unlisted },
      'the configuration file no longer lists these objects it made: they are kept; set prune: true in the file (or TOLLGATE_CONFIG_PRUNE=true) to delete them',
    );
  }
}
