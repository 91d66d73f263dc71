import 'reflect-metadata';
import { startApp, type App } from './app';
import { ConfigError, loadConfig } from './config';
import type { GeneratedSecret } from './modules/config-file/config-file.applier';
import { ConfigFileError } from './modules/config-file/config-file.loader';
import { createLogger } from './shared/logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  // Readable text for a person at a terminal, JSON lines for everything else (a file, a pipe, a collector).
  const log = createLogger(config.logLevel, { pretty: process.stdout.isTTY === true });
  let app: App;
  try {
    app = await startApp(config, log);
  } catch (error) {
    if (error instanceof ConfigFileError) {
      console.error(`Configuration error: ${error.message}`);
      const { created, updated, secrets } = error.applied;
      if (created.length + updated.length > 0) {
        console.error(
          `Applied before it (kept; the next start goes on from there): ${[
            ...created.map((what) => `created ${what}`),
            ...updated.map((what) => `updated ${what}`),
          ].join(', ')}`,
        );
      }
      if (secrets.length > 0) printSecrets(error.file, secrets);
      process.exit(2);
    }
    throw error;
  }
  log.info(
    {
      url: app.url,
      console: new URL('/', app.url).href,
      ...(config.explorer ? { explorer: app.url } : {}),
      database: config.databaseUrl ? 'postgres' : `embedded (${config.dataDir})`,
    },
    'Tollgate is listening',
  );
  if (app.demo) printDemo(app.url, app.demo.adminKey, config.explorer);
  if (app.configFile && app.configFile.secrets.length > 0)
    printSecrets(app.configFile.file, app.configFile.secrets);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight calls');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function printDemo(url: string, key: string, explorer: boolean): void {
  const body = JSON.stringify({
    query:
      'mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { content model cost usage { totalTokens } } }',
    variables: { input: { messages: [{ role: 'user', content: 'Hello, Tollgate!' }] } },
  });
  process.stdout.write(
    [
      '',
      'First start: seeded the demo project (simulated provider, four chat models and an embedding model, $5/day and $50/month budgets).',
      'Its ADMIN key is shown this once:',
      '',
      `  export TG_KEY=${key}`,
      '',
      'Open the console (live budgets, usage, admin, playground) and sign in with that key:',
      '',
      `  ${new URL('/', url).href}`,
      '',
      ...(explorer
        ? ['Or explore the GraphQL API (GraphiQL, the key in its Authorization field):', '', `  ${url}`, '']
        : []),
      'Make a completion:',
      '',
      `  curl -s ${url} -H "authorization: Bearer $TG_KEY" -H 'content-type: application/json' \\`,
      `    -d '${body}'`,
      '',
    ].join('\n') + '\n',
  );
}

/** The secrets a configuration file's start generated: on stdout, this once (only their hashes or sealed copies are kept). */
function printSecrets(file: string, secrets: GeneratedSecret[]): void {
  process.stdout.write(
    [
      '',
      `The configuration file ${file} made these secrets; they are shown this once:`,
      '',
      ...secrets.map((s) => `  ${s.kind} ${s.project}/${s.name}: ${s.secret}`),
      '',
    ].join('\n') + '\n',
  );
}

main().catch((error: unknown) => {
  console.error('Tollgate failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
