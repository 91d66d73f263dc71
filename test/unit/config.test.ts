import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('reads the defaults from an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 4000,
      databaseUrl: undefined,
      seedDemo: true,
      reservationTtlMs: 600_000,
      abandonedHolds: 'charge',
      callDeadlineMs: 600_000,
      idempotencyLeaseMs: 15_000,
      introspection: true,
      projectLimits: { rpm: null, tpm: null },
    });
    expect(config.upstreamEgress.allows('127.0.0.1')).toBe(false);
    expect(config.upstreamEnvKeys.allows('OPENAI_API_KEY')).toBe(false);
  });

  it('names every bad setting at once, with the value it got', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        TOLLGATE_RESERVATION_TTL_MS: '5',
        TOLLGATE_INTROSPECTION: 'maybe',
        TOLLGATE_ABANDONED_HOLDS: 'keep',
        TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: '10.0.0.0/40',
        TOLLGATE_UPSTREAM_ENV_KEYS: 'TOLLGATE_OPERATOR_KEY',
        TOLLGATE_RESERVATON_TTL_MS: '60000', // a typo
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT must be an integer in [0, 65535], got "eighty"');
    expect(message).toContain('TOLLGATE_RESERVATION_TTL_MS must be an integer in [1000, 86400000], got "5"');
    expect(message).toContain('TOLLGATE_INTROSPECTION must be true or false, got "maybe"');
    expect(message).toContain('TOLLGATE_ABANDONED_HOLDS');
    expect(message).toContain(
      'TOLLGATE_UPSTREAM_ALLOWED_NETWORKS "10.0.0.0/40" has a prefix length outside 0-32',
    );
    expect(message).toContain(
      "TOLLGATE_UPSTREAM_ENV_KEYS TOLLGATE_OPERATOR_KEY is one of Tollgate's own settings",
    );
    expect(message).toContain('TOLLGATE_RESERVATON_TTL_MS is not a setting of Tollgate');
  });

  it('treats a blank variable as unset, and introspection follows NODE_ENV unless set', () => {
    expect(loadConfig({ PORT: '  ', DATABASE_URL: '' })).toMatchObject({
      port: 4000,
      databaseUrl: undefined,
    });
    expect(loadConfig({ NODE_ENV: 'production' }).introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', TOLLGATE_INTROSPECTION: 'on' }).introspection).toBe(true);
  });

  it('reads OTLP headers whose values hold "=" (base64) and refuses a malformed pair without echoing it', () => {
    const config = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20dXNlcjpwYXNz==, x-team = a%2Cb',
    });
    expect(config.tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      serviceName: 'tollgate',
      headers: { Authorization: 'Basic dXNlcjpwYXNz==', 'x-team': 'a,b' },
    });
    const refused = (headers: string) => () =>
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_HEADERS: headers,
      });
    expect(refused('api-key=ok,Bearer s3cret')).toThrow(
      new ConfigError('OTEL_EXPORTER_OTLP_HEADERS: pair 2 is not key=value'),
    );
    expect(refused('x=%E0%A4%A')).toThrow(/the value of "x" is not valid URL encoding/);
    expect(refused('=v')).toThrow(ConfigError);
  });
});
