import type { IncomingMessage, ServerResponse } from 'node:http';
import { guarded, isPlainJsonPost, rescue } from '../../src/shared/json-body';

/** Which requests the doors' direct paths take (the rest go through express), and their safety net. */
describe('the direct paths: which requests, and what escapes them', () => {
  const post = (url: string, headers: Record<string, string>, method = 'POST') =>
    ({ method, url, headers }) as unknown as IncomingMessage;
  const json = { 'content-type': 'application/json' };

  it.each([
    ['a JSON POST', post('/graphql', json), true],
    ['with a query string', post('/graphql?x=1', json), true],
    [
      'UTF-8, any case, quoted',
      post('/graphql', { 'content-type': 'Application/JSON; Charset="UTF-8"' }),
      true,
    ],
    ['another parameter', post('/graphql', { 'content-type': 'application/json; foo=bar' }), true],
    ['identity encoding', post('/graphql', { ...json, 'content-encoding': 'identity' }), true],
    ['a GET', post('/graphql', json, 'GET'), false],
    ['another path', post('/graphql/', json), false],
    ['another case', post('/GraphQL', json), false],
    ['no content type', post('/graphql', {}), false],
    ['another type', post('/graphql', { 'content-type': 'text/plain' }), false],
    ['a +json type', post('/graphql', { 'content-type': 'application/graphql+json' }), false],
    ['another charset', post('/graphql', { 'content-type': 'application/json; charset=latin1' }), false],
    [
      'a charset that only starts with utf-8',
      post('/graphql', { 'content-type': 'application/json; charset=utf-8=x' }),
      false,
    ],
    ['a charset without a value', post('/graphql', { 'content-type': 'application/json; charset' }), false],
    ['a compressed body', post('/graphql', { ...json, 'content-encoding': 'gzip' }), false],
  ])('%s: %s', (_name, req, taken) => {
    expect(isPlainJsonPost(req, '/graphql')).toBe(taken);
  });

  const response = (headersSent: boolean) =>
    ({ headersSent, destroy: jest.fn() }) as unknown as ServerResponse & { destroy: jest.Mock };

  it("answers what escapes with the door's failure, before anything was sent", () => {
    const res = response(false);
    const fail = jest.fn();
    guarded(
      res,
      () => {
        throw new Error('boom');
      },
      fail,
    );
    expect(fail).toHaveBeenCalledWith(expect.objectContaining({ message: 'boom' }));
    expect(res.destroy).not.toHaveBeenCalled();
  });

  it('drops the connection once an answer has begun, or when the failure itself throws', () => {
    const begun = response(true);
    const fail = jest.fn();
    rescue(begun, new Error('late'), fail);
    expect(fail).not.toHaveBeenCalled();
    expect(begun.destroy).toHaveBeenCalled();
    const res = response(false);
    rescue(res, new Error('boom'), () => {
      throw new Error('and again');
    });
    expect(res.destroy).toHaveBeenCalled();
  });
});
