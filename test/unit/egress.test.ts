import { EgressPolicy } from '../../src/shared/egress';
import { EnvAllowlist } from '../../src/shared/env-allowlist';

describe('EgressPolicy', () => {
  const closed = new EgressPolicy([], 'TEST_SETTING');

  it('allows public addresses and refuses every non-public range by default', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '100.63.255.255', '172.32.0.1']) {
      expect({ ip, allowed: closed.allows(ip) }).toEqual({ ip, allowed: true });
    }
    for (const ip of [
      '127.0.0.1',
      '127.8.9.10',
      '10.0.0.1',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '64:ff9b::10.0.0.1',
      '[::1]',
      'not-an-ip',
    ]) {
      expect({ ip, allowed: closed.allows(ip) }).toEqual({ ip, allowed: false });
    }
  });

  it('opens exactly the networks the operator lists, or every private range with "private"', () => {
    const loopback = new EgressPolicy(['127.0.0.1/32', '10.1.0.0/16'], 'X');
    expect(loopback.allows('127.0.0.1')).toBe(true);
    expect(loopback.allows('::ffff:127.0.0.1')).toBe(true);
    expect(loopback.allows('127.0.0.2')).toBe(false);
    expect(loopback.allows('10.1.200.3')).toBe(true);
    expect(loopback.allows('10.2.0.1')).toBe(false);
    const all = new EgressPolicy(['private'], 'X');
    expect(['127.0.0.1', '10.9.9.9', '169.254.169.254', 'fd12::1'].every((ip) => all.allows(ip))).toBe(true);
  });

  it('checks URLs without DNS: literals and localhost names', () => {
    const refused = (url: string) => closed.refusesUrl(new URL(url));
    expect(refused('http://127.0.0.1:8080/x')).toMatch(/TEST_SETTING/);
    expect(refused('http://localhost/x')).toMatch(/TEST_SETTING/);
    expect(refused('http://api.localhost/x')).toMatch(/TEST_SETTING/);
    expect(refused('http://[::1]/x')).toMatch(/TEST_SETTING/);
    expect(refused('http://2130706433/')).toMatch(/TEST_SETTING/); // 127.0.0.1 as one number
    expect(refused('https://api.openai.com/v1')).toBeNull(); // a name: checked when it connects
    expect(refused('http://8.8.8.8/')).toBeNull();
  });

  it('refuses malformed networks at boot', () => {
    expect(() => new EgressPolicy(['10.0.0.0/33'], 'X')).toThrow(/prefix/);
    expect(() => new EgressPolicy(['example.com'], 'X')).toThrow(/not an IP/);
  });
});

describe('EnvAllowlist', () => {
  it('allows listed names and prefixes, never Tollgate settings or database variables', () => {
    const list = new EnvAllowlist(['OPENAI_API_KEY', 'VENDOR_*', '*']);
    expect(list.allows('OPENAI_API_KEY')).toBe(true);
    expect(list.allows('VENDOR_KEY_2')).toBe(true);
    expect(list.allows('ANYTHING_ELSE')).toBe(true); // the operator said '*'
    for (const reserved of [
      'TOLLGATE_OPERATOR_KEY',
      'TOLLGATE_SECRET_KEY',
      'DATABASE_URL',
      'REDIS_URL',
      'PGPASSWORD',
    ]) {
      expect({ reserved, allowed: list.allows(reserved) }).toEqual({ reserved, allowed: false });
    }
    expect(new EnvAllowlist([]).allows('OPENAI_API_KEY')).toBe(false);
  });

  it('refuses to start with a reserved name listed outright', () => {
    expect(() => new EnvAllowlist(['TOLLGATE_OPERATOR_KEY'])).toThrow(/own settings/);
    expect(() => new EnvAllowlist(['bad name'])).toThrow(/not a variable name/);
  });
});
