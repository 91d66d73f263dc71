import 'reflect-metadata';
import {
  ConfigFileError,
  formatProblem,
  readConfigFile,
} from '../src/modules/config-file/config-file.loader';

/**
 * `npm run config:check -- FILE...`: validates configuration files without a server or database,
 * printing each problem as `file:line:col path: message`. What needs the operator's environment
 * (egress, TOLLGATE_UPSTREAM_ENV_KEYS, secrets' variables) is checked when the server applies it.
 * Returns the exit code: 0 when every file is valid, 1 otherwise, 2 without a file.
 */
export function checkConfigFiles(files: string[], print: (line: string) => void): number {
  if (files.length === 0) {
    print('usage: npm run config:check -- FILE [FILE...]');
    return 2;
  }
  let code = 0;
  for (const file of files) {
    try {
      const loaded = readConfigFile(file);
      const { projects } = loaded.content;
      print(`${file}: valid (${projects.length} project(s), managedBy "${loaded.owner}")`);
    } catch (error) {
      if (!(error instanceof ConfigFileError)) throw error;
      for (const problem of error.problems) print(formatProblem(file, problem));
      code = 1;
    }
  }
  return code;
}

if (require.main === module) {
  const lines: string[] = [];
  const code = checkConfigFiles(process.argv.slice(2), (line) => lines.push(line));
  (code === 0 ? console.log : console.error)(lines.join('\n'));
  process.exit(code);
}
