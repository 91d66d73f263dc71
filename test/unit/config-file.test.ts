import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkConfigFiles } from '../../scripts/config-check';
import { loadConfig } from '../../src/config';
import {
  ConfigFileError,
  parseConfigFile,
  readConfigFile,
  routingWithFile,
  type Problem,
} from '../../src/modules/config-file/config-file.loader';
import { DEFAULT_RULES } from '../../src/modules/routing/classifier';
import { DEFAULT_FALLBACK } from '../../src/modules/routing/router.service';
import { REFERENCE_MODELS } from '../../src/seed';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'tollgate.yaml');

/** The problems of a file's text (failing the test when it is valid). */
function problemsOf(lines: string[]): Problem[] {
  const parsed = parseConfigFile(lines.join('\n'), 'f.yaml');
  if (parsed.ok) throw new Error('expected the file to be refused');
  return parsed.problems;
}

const at = (problems: Problem[]) => problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`);

const HEAD = [
  'version: 1',
  'projects:',
  '  - name: p',
  '    providers:',
  '      - { name: sim, kind: SIMULATED }',
];

describe('the configuration file: schema and lines', () => {
  it('the example file is valid and declares the reference models the demo seed makes', () => {
    const loaded = readConfigFile(EXAMPLE);
    expect(loaded.owner).toBe('tollgate.yaml');
    const [project] = loaded.content.projects;
    expect(project!.name).toBe('demo');
    expect(
      project!.models.map((m) => ({
        name: m.name,
        provider: m.provider,
        prompt: m.promptPrice,
        completion: m.completionPrice,
        cachedPrompt: m.cachedPromptPrice,
        cacheWrite: m.cacheWritePrice,
        tiers: m.tiers,
      })),
    ).toEqual(REFERENCE_MODELS.map((m) => ({ cachedPrompt: undefined, cacheWrite: undefined, ...m })));
  });

  it('the README shows the example file as it is', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain('```yaml\n' + fs.readFileSync(EXAMPLE, 'utf8').trimEnd() + '\n```');
  });

  it("a value the API refuses is placed at its key's line, with its path and the API's message", () => {
    const problems = problemsOf([
      ...HEAD,
      '    models:',
      '      - name: m',
      '        provider: sim',
      "        promptPrice: '0.1234567'",
      "        completionPrice: '1'",
      '        promptMargin: 11',
    ]);
    // one check of the API's at a time per object: the first it meets
    expect(at(problems)).toEqual([
      '9:9 projects[0].models[0].promptPrice: promptPrice must be >= 0 with at most 6 decimals',
    ]);
  });

  it('an unknown field is placed at its own line; a missing one at its entry', () => {
    const problems = problemsOf([
      ...HEAD,
      '    models:',
      '      - name: m',
      '        provider: sim',
      "        completionPrice: '1'",
      '        colour: blue',
    ]);
    expect(at(problems)).toEqual([
      '7:9 projects[0].models[0].promptPrice: is required',
      '10:9 projects[0].models[0].colour: is not a known field',
    ]);
  });

  it('a YAML syntax error names its line', () => {
    const problems = problemsOf(['version: 1', 'projects:', '  - name: a', '    name: b']);
    expect(problems).toEqual([
      { line: 4, col: 5, path: '', message: expect.stringContaining('Map keys must be unique') },
    ]);
    expect(problemsOf(['version: 1', 'projects: [', ''])[0]).toMatchObject({ line: 3, col: 1 });
  });

  it('names used twice, and references to what the project does not list, are placed at their entries', () => {
    const problems = problemsOf([
      ...HEAD,
      '      - { name: sim, kind: SIMULATED }',
      '    models:',
      "      - { name: m, provider: gone, promptPrice: '1', completionPrice: '1' }",
      '    budgets:',
      "      - { name: b, period: DAILY, limitUsd: '5', apiKey: nobody }",
    ]);
    expect(at(problems)).toEqual([
      '6:11 projects[0].providers[1].name: "sim" is listed twice',
      '8:20 projects[0].models[0].provider: "gone" is not a provider of this project in the file (it has "sim", "sim")',
      '10:50 projects[0].budgets[0].apiKey: "nobody" is not an API key of this project in the file (it has none)',
    ]);
  });

  it('upstream keys and secrets are names of environment variables, never the values', () => {
    const problems = problemsOf([
      'version: 1',
      'projects:',
      '  - name: p',
      '    providers:',
      '      - name: up',
      '        kind: OPENAI_COMPATIBLE',
      '        baseUrl: https://api.example.com/v1',
      '        upstreamKeys: [sk-live-123]',
      '    apiKeys:',
      '      - { name: a, secret: tg_literal_key_0123456789 }',
      '      - { name: b, secret: env:TOLLGATE_OPERATOR_KEY }',
    ]);
    expect(at(problems)).toEqual([
      '8:24 projects[0].providers[0].upstreamKeys[0]: must be env:NAME: a configuration file names the variables that hold upstream keys, never a key',
      '10:20 projects[0].apiKeys[0].secret: must be env:NAME (the secret is read from that environment variable)',
      "11:20 projects[0].apiKeys[1].secret: TOLLGATE_ variables are Tollgate's own settings (an unknown one stops the start): use another name",
    ]);
  });

  it('the version is required, and the owner defaults to the file name', () => {
    expect(at(problemsOf(['projects: []']))).toEqual(['1:1 version: is required']);
    const parsed = parseConfigFile('version: 1\n', 'ops/gateway.yaml');
    expect(parsed.ok && parsed.loaded.owner).toBe('gateway.yaml');
    const named = parseConfigFile('version: 1\nmanagedBy: platform-team\n', 'ops/gateway.yaml');
    expect(named.ok && named.loaded.owner).toBe('platform-team');
  });
});

describe('the configuration file: routing settings', () => {
  const env = { routingRules: DEFAULT_RULES, fallbackChain: DEFAULT_FALLBACK };
  const file = (lines: string[]) => {
    const parsed = parseConfigFile(['version: 1', ...lines].join('\n'), 'r.yaml');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    return parsed.loaded;
  };

  it("the file's rules merge over the reference's, its fallback chain replaces the default", () => {
    const loaded = file([
      'routing:',
      '  rules: { simpleMaxMessages: 3, complexIntents: [Planning] }',
      "  fallbackChain: [cheaper, 'model:gpt-4.1']",
    ]);
    const routing = routingWithFile(loaded, {
      ...env,
      routingFromEnv: { rules: false, fallbackChain: false },
    });
    expect(routing.routingRules).toEqual({
      ...DEFAULT_RULES,
      simpleMaxMessages: 3,
      complexIntents: ['planning'],
    });
    expect(routing.fallbackChain).toEqual([{ kind: 'cheaper' }, { kind: 'model', name: 'gpt-4.1' }]);
    // an empty list: no fallback
    const none = routingWithFile(file(['routing: { fallbackChain: [] }']), {
      ...env,
      routingFromEnv: { rules: true, fallbackChain: false },
    });
    expect(none).toEqual({ routingRules: DEFAULT_RULES, fallbackChain: [] });
  });

  it('a setting both the file and the environment give is refused at its line', () => {
    const loaded = file(['routing:', '  rules: { simpleMaxMessages: 1 }', '  fallbackChain: [tier]']);
    let error: unknown;
    try {
      routingWithFile(loaded, { ...env, routingFromEnv: { rules: true, fallbackChain: true } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as ConfigFileError).message).toContain(
      'r.yaml:3:3 routing.rules: TOLLGATE_ROUTING_RULES is set too',
    );
    expect((error as ConfigFileError).message).toContain(
      'r.yaml:4:3 routing.fallbackChain: TOLLGATE_FALLBACK_CHAIN is set too',
    );
  });

  it("the routing rules' own checks apply, at their paths", () => {
    const parsed = parseConfigFile(
      ['version: 1', 'routing:', '  rules:', '    simpleMaxMessages: -1', '  fallbackChain: [sideways]'].join(
        '\n',
      ),
      'r.yaml',
    );
    expect(parsed.ok ? [] : at(parsed.problems)).toEqual([
      '4:5 routing.rules.simpleMaxMessages: must be a whole number >= 0',
      '5:19 routing.fallbackChain[0]: unknown fallback step "sideways" (use tier, cheaper, model:NAME or none)',
    ]);
  });
});

describe('npm run config:check', () => {
  let folder: string;
  beforeAll(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-config-check-'));
  });
  afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('prints each problem as file:line:col path: message, and fails', () => {
    const file = path.join(folder, 'broken.yaml');
    fs.writeFileSync(
      file,
      [
        'version: 1',
        'projects:',
        '  - name: p',
        '    budgets:',
        "      - { name: d, period: HOURLY, limitUsd: '5' }",
      ].join('\n'),
    );
    const lines: string[] = [];
    expect(checkConfigFiles([file, path.join(folder, 'missing.yaml')], (line) => lines.push(line))).toBe(1);
    expect(lines).toEqual([
      `${file}:5:20 projects[0].budgets[0].period: Invalid option: expected one of "DAILY"|"MONTHLY"`,
      `${path.join(folder, 'missing.yaml')}:1:1 cannot be read: no such file`,
    ]);
  });

  it('passes a valid file, and asks for one when given none', () => {
    const lines: string[] = [];
    expect(checkConfigFiles([EXAMPLE], (line) => lines.push(line))).toBe(0);
    expect(lines).toEqual([`${EXAMPLE}: valid (1 project(s), managedBy "tollgate.yaml")`]);
    expect(checkConfigFiles([], () => undefined)).toBe(2);
  });
});

describe('TOLLGATE_CONFIG in the environment', () => {
  it('names the file (resolved), turns the demo seed off unless asked, and may decide pruning', () => {
    const config = loadConfig({ TOLLGATE_CONFIG: 'examples/tollgate.yaml', TOLLGATE_CONFIG_PRUNE: 'true' });
    expect(config.configFile).toBe(path.resolve('examples/tollgate.yaml'));
    expect(config.seedDemo).toBe(false);
    expect(config.configPrune).toBe(true);
    expect(loadConfig({ TOLLGATE_CONFIG: 'x.yaml', TOLLGATE_SEED_DEMO: 'true' }).seedDemo).toBe(true);
    expect(loadConfig({}).configPrune).toBeUndefined();
    expect(loadConfig({}).seedDemo).toBe(true);
    expect(loadConfig({ TOLLGATE_FALLBACK_CHAIN: 'none' }).routingFromEnv).toEqual({
      rules: false,
      fallbackChain: true,
    });
  });
});
