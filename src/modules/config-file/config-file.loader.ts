import fs from 'node:fs';
import path from 'node:path';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { ClassifierRules } from '../routing/classifier';
import type { FallbackStep } from '../routing/router.service';
import { ConfigFileSchema, type ConfigFile } from './config-file.schema';
import type { GeneratedSecret } from './config-file.report';

/** Where a file is wrong: `file:line:col path: message`, line and column from 1. */
export interface Problem {
  line: number;
  col: number;
  /** `projects[0].models[2].promptPrice`; empty for the file as a whole. */
  path: string;
  message: string;
}

export function formatProblem(file: string, problem: Problem): string {
  const where = `${file}:${problem.line}:${problem.col}`;
  return problem.path ? `${where} ${problem.path}: ${problem.message}` : `${where} ${problem.message}`;
}

/** A configuration file that cannot be applied: every problem, each naming its line. */
export class ConfigFileError extends Error {
  /**
   * What the start had applied before the problem, entry by entry, each committed (the file is
   * not applied in one transaction): said with the error, with the secrets it made, so that none
   * is lost. Empty when the problem was found before anything was written.
   */
  applied: { created: string[]; updated: string[]; secrets: GeneratedSecret[] } = {
    created: [],
    updated: [],
    secrets: [],
  };

  constructor(
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(
      `the configuration file ${file} is not valid:\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`,
    );
    this.name = 'ConfigFileError';
  }
}

export interface LoadedConfigFile {
  /** As given (TOLLGATE_CONFIG, or config:check's argument): what messages name. */
  file: string;
  /** What its objects carry in `managedBy`: the file's `managedBy`, else the file's name. */
  owner: string;
  content: ConfigFile;
  /** A problem at a path of the file, placed at its line (the nearest enclosing entry when absent). */
  problemAt(path: readonly PropertyKey[], message: string): Problem;
}

type Parsed = { ok: true; loaded: LoadedConfigFile } | { ok: false; problems: Problem[] };

/** Parses and validates a file's text; `file` is the name messages use. */
export function parseConfigFile(text: string, file: string): Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => {
        const at = error.linePos?.[0] ?? { line: 1, col: 1 };
        return { line: at.line, col: at.col, path: '', message: firstLine(error.message) };
      }),
    };
  }
  const problemAt = (at: readonly PropertyKey[], message: string): Problem => ({
    ...lines.linePos(offsetOf(doc, at)),
    path: formatPath(at),
    message,
  });
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, problems: [problemAt([], error instanceof Error ? error.message : String(error))] };
  }
  const parsed = ConfigFileSchema.safeParse(data ?? {}, { reportInput: true });
  if (!parsed.success) return { ok: false, problems: problemsOf(parsed.error, problemAt) };
  const owner = parsed.data.managedBy ?? path.basename(file);
  return { ok: true, loaded: { file, owner, content: parsed.data, problemAt } };
}

/** Reads, parses and validates a file; throws ConfigFileError with every problem. */
export function readConfigFile(file: string): LoadedConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new ConfigFileError(file, [{ line: 1, col: 1, path: '', message: `cannot be read: ${reason}` }]);
  }
  const parsed = parseConfigFile(text, file);
  if (!parsed.ok) throw new ConfigFileError(file, parsed.problems);
  return parsed.loaded;
}

export interface RoutingSettings {
  routingRules: ClassifierRules;
  fallbackChain: readonly FallbackStep[];
  /** Which of them the environment gave (TOLLGATE_ROUTING_RULES, TOLLGATE_FALLBACK_CHAIN). */
  routingFromEnv: { rules: boolean; fallbackChain: boolean };
}

/**
 * The process-wide routing settings with the file's: a setting the file gives is the file's; one
 * that both the file and the environment give is refused, since which should win is not obvious.
 */
export function routingWithFile(
  loaded: LoadedConfigFile,
  current: RoutingSettings,
): Pick<RoutingSettings, 'routingRules' | 'fallbackChain'> {
  const routing = loaded.content.routing;
  const problems: Problem[] = [];
  if (routing?.rules && current.routingFromEnv.rules) {
    problems.push(
      loaded.problemAt(
        ['routing', 'rules'],
        'TOLLGATE_ROUTING_RULES is set too: give the routing rules in one place (unset it, or remove these)',
      ),
    );
  }
  if (routing?.fallbackChain && current.routingFromEnv.fallbackChain) {
    problems.push(
      loaded.problemAt(
        ['routing', 'fallbackChain'],
        'TOLLGATE_FALLBACK_CHAIN is set too: give the fallback chain in one place (unset it, or remove this)',
      ),
    );
  }
  if (problems.length > 0) throw new ConfigFileError(loaded.file, problems);
  return {
    routingRules: routing?.rules ?? current.routingRules,
    fallbackChain: routing?.fallbackChain ?? current.fallbackChain,
  };
}

function problemsOf(
  error: z.ZodError,
  problemAt: (path: readonly PropertyKey[], message: string) => Problem,
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      // one problem per unknown field, at its own line
      for (const key of issue.keys) problems.push(problemAt([...issue.path, key], 'is not a known field'));
    } else if (issue.code !== 'custom' && 'input' in issue && issue.input === undefined) {
      problems.push(problemAt(issue.path, 'is required'));
    } else {
      problems.push(problemAt(issue.path, issue.message));
    }
  }
  return problems.sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * The offset of what a path names: the key of a map entry (its line is the one a reader looks
 * for), an item of a list; as far down as the path exists (a missing field: its entry).
 */
function offsetOf(doc: Document, at: readonly PropertyKey[]): number {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? (node.range?.[0] ?? 0) : 0;
  for (const segment of at) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      if (isNode(pair.key)) offset = pair.key.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (!isNode(item)) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

/** `projects[0].models[2].promptPrice` */
export function formatPath(at: readonly PropertyKey[]): string {
  return at
    .map((segment, i) =>
      typeof segment === 'number' ? `[${segment}]` : `${i === 0 ? '' : '.'}${String(segment)}`,
    )
    .join('');
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
