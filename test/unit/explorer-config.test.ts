import { loadConfig } from '../../src/config';

describe('TOLLGATE_EXPLORER', () => {
  const PG = 'postgres://db/tollgate';

  it('is on in the embedded demo, even under NODE_ENV=production (npm start)', () => {
    expect(loadConfig({}).explorer).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).explorer).toBe(true);
  });

  it('is on outside production, and off in production on Postgres', () => {
    expect(loadConfig({ DATABASE_URL: PG }).explorer).toBe(true);
    expect(loadConfig({ DATABASE_URL: PG, NODE_ENV: 'production' }).explorer).toBe(false);
  });

  it('is what the setting says when it is set', () => {
    expect(loadConfig({ DATABASE_URL: PG, NODE_ENV: 'production', TOLLGATE_EXPLORER: 'true' }).explorer).toBe(
      true,
    );
    expect(loadConfig({ TOLLGATE_EXPLORER: 'off' }).explorer).toBe(false);
    expect(() => loadConfig({ TOLLGATE_EXPLORER: 'maybe' })).toThrow(
      /TOLLGATE_EXPLORER must be true or false/,
    );
  });
});
