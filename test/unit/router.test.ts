import { ConfigError, loadConfig } from '../../src/config';
import type { Catalog } from '../../src/modules/providers/catalog.service';
import { Model, type Tier } from '../../src/modules/providers/model.entity';
import { Provider } from '../../src/modules/providers/provider.entity';
import { classify, DEFAULT_RULES, parseRoutingRules } from '../../src/modules/routing/classifier';
import {
  DEFAULT_FALLBACK,
  parseFallbackChain,
  RouterService,
  type ModelHealth,
} from '../../src/modules/routing/router.service';
import { parseUsd } from '../../src/shared/money';

function catalog(models: [name: string, prompt: string, completion: string, tiers: Tier[]][]): Catalog {
  const provider = Object.assign(new Provider(), {
    id: 'p',
    projectId: 'proj',
    name: 'up',
    kind: 'SIMULATED',
  });
  return {
    providers: new Map([['p', provider]]),
    models: new Map(
      models.map(([name, prompt, completion, tiers]) => [
        name,
        Object.assign(new Model(), {
          id: name,
          providerId: 'p',
          name,
          upstreamName: name,
          promptPrice: parseUsd(prompt),
          completionPrice: parseUsd(completion),
          tiers,
          enabled: true,
        }),
      ]),
    ),
  };
}

const REFERENCE = catalog([
  ['deepseek-chat', '0.14', '0.42', ['SIMPLE', 'MODERATE']],
  ['gemini-2.5-flash', '0.10', '2.50', ['SIMPLE', 'MODERATE']],
  ['gpt-4.1', '2.00', '8.00', ['COMPLEX']],
  ['claude-sonnet-4.5', '3.00', '15.00', ['COMPLEX']],
]);

const names = (models: Model[]) => models.map((m) => m.name);

function health(unhealthy: string[] = [], busy = false): ModelHealth {
  return { isHealthy: (_p, m) => !unhealthy.includes(m.name), hasCapacity: () => !busy };
}

describe('RouterService', () => {
  it('picks the cheapest model of the tier for this call, then the tier, then cheaper tiers', () => {
    const router = new RouterService();
    // 100 prompt + 100 completion tokens: deepseek 56 pico/token-pair... cheaper than gemini
    expect(names(router.plan(REFERENCE, 'auto', 'SIMPLE', 100, 100).chain)).toEqual([
      'deepseek-chat',
      'gemini-2.5-flash',
    ]);
    // a huge prompt and one completion token: gemini's cheaper prompt wins
    expect(names(router.plan(REFERENCE, 'auto', 'SIMPLE', 100_000, 1).chain)[0]).toBe('gemini-2.5-flash');
    expect(names(router.plan(REFERENCE, 'auto', 'COMPLEX', 100, 100).chain)).toEqual([
      'gpt-4.1',
      'claude-sonnet-4.5',
      'deepseek-chat',
      'gemini-2.5-flash',
    ]);
  });

  it('skips a model whose circuit is open or whose keys all failed', () => {
    const router = new RouterService(health(['gpt-4.1']));
    expect(names(router.plan(REFERENCE, 'auto', 'COMPLEX', 100, 100).chain)).toEqual([
      'claude-sonnet-4.5',
      'deepseek-chat',
      'gemini-2.5-flash',
    ]);
    const dead = new RouterService(
      health(['gpt-4.1', 'claude-sonnet-4.5', 'deepseek-chat', 'gemini-2.5-flash']),
    );
    expect(() => dead.plan(REFERENCE, 'auto', 'COMPLEX', 100, 100)).toThrow(
      /No healthy model for tier COMPLEX/,
    );
  });

  it('breaks cost ties in turn, never at random; estimates do not advance the turn', () => {
    const tied = catalog([
      ['a', '1', '1', ['SIMPLE']],
      ['b', '1', '1', ['SIMPLE']],
      ['c', '1', '1', ['SIMPLE']],
      ['dear', '9', '9', ['SIMPLE']],
    ]);
    const router = new RouterService();
    const firsts = Array.from(
      { length: 6 },
      () => router.plan(tied, 'auto', 'SIMPLE', 10, 10).chain[0]!.name,
    );
    expect(firsts).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    router.plan(tied, 'auto', 'SIMPLE', 10, 10, false);
    expect(router.plan(tied, 'auto', 'SIMPLE', 10, 10).chain[0]!.name).toBe('a');
  });

  it('prefers a model whose provider has capacity now, else still the cheapest', () => {
    const two = catalog([
      ['cheap', '1', '1', ['SIMPLE']],
      ['dear', '2', '2', ['SIMPLE']],
    ]);
    const other = Object.assign(new Provider(), {
      id: 'q',
      projectId: 'proj',
      name: 'other',
      kind: 'SIMULATED',
    });
    two.providers.set('q', other);
    two.models.get('dear')!.providerId = 'q';
    const router = new RouterService({ isHealthy: () => true, hasCapacity: (p) => p.id === 'q' });
    expect(names(router.plan(two, 'auto', 'SIMPLE', 10, 10).chain)).toEqual(['dear', 'cheap']);
    expect(new RouterService(health([], true)).plan(two, 'auto', 'SIMPLE', 10, 10).chain[0]!.name).toBe(
      'cheap',
    );
  });

  it('an explicit model is used as asked, with no fallback; an unknown one is bad input', () => {
    const router = new RouterService(health(['gpt-4.1']));
    expect(names(router.plan(REFERENCE, 'gpt-4.1', 'SIMPLE', 10, 10).chain)).toEqual(['gpt-4.1']);
    expect(router.plan(REFERENCE, 'gpt-4.1', 'SIMPLE', 10, 10).tier).toBeNull();
    expect(() => router.plan(REFERENCE, 'gpt-5', 'SIMPLE', 10, 10)).toThrow('Unknown model "gpt-5"');
  });

  it('follows a configured fallback chain', () => {
    const tierOnly = new RouterService(health(), parseFallbackChain('tier'));
    expect(names(tierOnly.plan(REFERENCE, 'auto', 'COMPLEX', 10, 10).chain)).toEqual([
      'gpt-4.1',
      'claude-sonnet-4.5',
    ]);
    const none = new RouterService(health(), parseFallbackChain('none'));
    expect(names(none.plan(REFERENCE, 'auto', 'COMPLEX', 10, 10).chain)).toEqual(['gpt-4.1']);
    const named = new RouterService(health(), parseFallbackChain('model:deepseek-chat, tier'));
    expect(names(named.plan(REFERENCE, 'auto', 'COMPLEX', 10, 10).chain)).toEqual([
      'gpt-4.1',
      'deepseek-chat',
      'claude-sonnet-4.5',
    ]);
    expect(parseFallbackChain('tier,cheaper')).toEqual(DEFAULT_FALLBACK);
    expect(() => parseFallbackChain('tier,pricier')).toThrow('unknown fallback step "pricier"');
  });
});

describe('routing rules configuration', () => {
  it('merges JSON over the defaults and applies it', () => {
    const rules = parseRoutingRules('{"simpleMaxMessages": 3, "complexIntents": ["Code-Review"]}');
    expect(rules).toEqual({ ...DEFAULT_RULES, simpleMaxMessages: 3, complexIntents: ['code-review'] });
    const one = [{ role: 'user' as const, content: 'hi' }];
    expect(classify({ messages: one, intent: 'code-review' }, rules)).toBe('COMPLEX');
    expect(classify({ messages: one, intent: 'code-review' })).toBe('SIMPLE');
  });

  it('is validated at boot: unknown fields, wrong types and contradictions fail fast', () => {
    expect(loadConfig({ TOLLGATE_ROUTING_RULES: '{"complexOverMessages": 9}' }).routingRules).toEqual({
      ...DEFAULT_RULES,
      complexOverMessages: 9,
    });
    for (const bad of [
      '{"simpleMaxMessage": 3}',
      '{"simpleMaxMessages": -1}',
      '{"simpleMaxMessages": "3"}',
      '{"simpleIntents": "classification"}',
      '{"simpleMaxMessages": 9}',
      '{"complexIntents": ["classification"]}',
      '[1]',
      'not json',
    ]) {
      expect(() => loadConfig({ TOLLGATE_ROUTING_RULES: bad })).toThrow(ConfigError);
    }
    expect(() => loadConfig({ TOLLGATE_FALLBACK_CHAIN: 'sideways' })).toThrow(ConfigError);
    expect(() => loadConfig({ TOLLGATE_PROJECT_RPM_LIMIT: '0' })).toThrow(ConfigError);
    expect(loadConfig({ TOLLGATE_PROJECT_RPM_LIMIT: '600' }).projectLimits).toEqual({ rpm: 600, tpm: null });
  });
});
