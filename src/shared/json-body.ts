import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Reading a JSON request body without express: for the doors' common POSTs, which the HTTP server
 * hands straight to their handlers (express's dispatch costs them a fifth or more of their
 * throughput: BENCHMARKS.md, the stack floors). It reads as express.json would for the requests it
 * takes, and takes only those it reads alike: uncompressed, `application/json`, UTF-8 or no charset.
 */

/** A problem with the body, as body-parser names it (the `type` of its errors). */
export interface BodyProblem {
  status: 400 | 413;
  type: 'entity.too.large' | 'entity.parse.failed';
}

/**
 * Answers what escaped a direct path's step with `fail` (the door's shape), or drops the connection
 * when an answer has begun or `fail` throws too: the safety net express's router gives its routes.
 */
export function rescue(res: ServerResponse, error: unknown, fail: (error: unknown) => void): void {
  try {
    if (res.headersSent) res.destroy();
    else fail(error);
  } catch {
    res.destroy();
  }
}

/** Runs a direct path's step, rescuing what it throws. */
export function guarded(res: ServerResponse, step: () => void, fail: (error: unknown) => void): void {
  try {
    step();
  } catch (error) {
    rescue(res, error, fail);
  }
}

/** A request's URL as its path and its query string (with its `?`, or ''). */
export function splitUrl(url: string | undefined): { path: string; search: string } {
  const whole = url ?? '';
  const query = whole.indexOf('?');
  return query === -1
    ? { path: whole, search: '' }
    : { path: whole.slice(0, query), search: whole.slice(query) };
}

/** A POST to exactly `path` (a query string allowed) with a body read here alike. */
export function isPlainJsonPost(req: IncomingMessage, path: string): boolean {
  if (req.method !== 'POST' || splitUrl(req.url).path !== path) return false;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type'];
  if (type === undefined) return false;
  const [media, ...params] = type.split(';');
  if (media!.trim().toLowerCase() !== 'application/json') return false;
  return params.every((param) => {
    const [name, ...value] = param.split('=');
    if (name!.trim().toLowerCase() !== 'charset') return true;
    return value.join('=').trim().replace(/^"|"$/g, '').toLowerCase() === 'utf-8';
  });
}

/**
 * Serves a direct POST: `start` (the request's id and log), then the body read, then `answer`
 * with it, or `problem` for a body that could not be read; whatever escapes goes to `fail`.
 */
export function serveJsonPost(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  steps: {
    start(): void;
    problem(problem: BodyProblem): void;
    answer(body: unknown): Promise<void>;
    fail(error: unknown): void;
  },
): void {
  guarded(
    res,
    () => {
      steps.start();
      readJsonBody(req, limit, (problem, body) =>
        guarded(
          res,
          () => {
            if (problem) return steps.problem(problem);
            steps.answer(body).catch((error: unknown) => rescue(res, error, steps.fail));
          },
          steps.fail,
        ),
      );
    },
    steps.fail,
  );
}

/**
 * Reads the whole body and parses it as body-parser's strict JSON parser does: an empty body is
 * `{}`; else (after a BOM) an object or an array, or a problem. One over `limit` bytes is refused
 * (by its Content-Length at once, else as it comes) once the rest of it is read off the connection.
 * An aborted request is never answered: nobody is there.
 */
export function readJsonBody(
  req: IncomingMessage,
  limit: number,
  done: (problem: BodyProblem | undefined, body?: unknown) => void,
): void {
  const declared = Number(req.headers['content-length']);
  let over = Number.isFinite(declared) && declared > limit;
  const chunks: Buffer[] = [];
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    length += chunk.length;
    if (length > limit) over = true;
    else chunks.push(chunk);
  });
  req.on('end', () => {
    if (over) return done({ status: 413, type: 'entity.too.large' });
    const body = parseJson(Buffer.concat(chunks, length).toString('utf8'));
    if (body === undefined) return done({ status: 400, type: 'entity.parse.failed' });
    done(undefined, body);
  });
  req.on('error', () => undefined);
}

function parseJson(text: string): unknown {
  const trimmed = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (trimmed.length === 0) return {};
  const first = trimmed.trimStart()[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}
