import crypto from 'node:crypto';
import OpenAI from 'openai';
import { countChatTokens } from '../../src/shared/tokenizer';
import type { TextMessage as ChatMessage } from '../../src/shared/tokenizer';
import { formatUsd, parseUsd } from '../../src/shared/money';
import { addBillingCatalog, clearOfMidnight, ledger, worstCaseOf, worstCaseReply } from '../support/billing';
import {
  completionBody,
  FakeUpstream,
  sendJson,
  sendStream,
  type UpstreamHandler,
} from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

const SHORT = { model: 'deepseek-chat', messages: user('How many tokens is this?'), maxTokens: 50 };

/** A budget is a promise: what holds when a call outlives its hold, an upstream counts more, or a call hangs. */
describe('money promises', () => {
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    await clearOfMidnight();
  });
  afterAll(() => upstream.stop());
  beforeEach(() => upstream.reset());

  describe('a hold lives as long as its call', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await TestServer.start({ TOLLGATE_RESERVATION_TTL_MS: '1000', TOLLGATE_SWEEP_INTERVAL_MS: '100' });
    }, 120_000);
    afterAll(() => t.close());

    it('a stream longer than the TTL keeps its hold: 20 short calls behind it, and spend stays within the limit', async () => {
      const { projectId, adminKey } = await t.createProject('long-stream');
      await addBillingCatalog(t, adminKey, upstream.baseUrl);
      const client = await t.createKey(adminKey, 'CLIENT');
      const streamCall = { model: 'deepseek-chat', messages: user('Tell me a long story.'), maxTokens: 200 };
      const streamCost = await worstCaseOf(t, client.key, streamCall);
      const shortCost = await worstCaseOf(t, client.key, SHORT);
      const limit = streamCost + shortCost * 5n;
      const budget = await t.createBudget(adminKey, { period: 'DAILY', limitUsd: formatUsd(limit) });

      // The stream takes 3 s (three TTLs) and bills exactly its worst case; short calls bill theirs.
      upstream.handler = (call, res) => {
        if (!call.body.stream) return worstCaseReply(call, res, 0);
        const prompt = countChatTokens(call.body.messages as ChatMessage[]);
        void sendStream(
          res,
          call.body.model,
          Array.from({ length: 30 }, (_, i) => `w${i} `),
          {
            delayMs: 100,
            usage: { prompt, completion: call.body.max_tokens ?? 0 },
          },
        );
      };
      const streamed = fetch(t.app.url.replace('/graphql', '/v1/chat/completions'), {
        method: 'POST',
        headers: { authorization: `Bearer ${client.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'deepseek-chat',
          messages: streamCall.messages,
          max_tokens: streamCall.maxTokens,
          stream: true,
        }),
      }).then((r) => r.text());
      // Once the stream is upstream (its hold taken), a sleep kept on purpose: time passing is the
      // point. 1.5 s is past the 1 s TTL, with sweeps every 100 ms meanwhile; the stream runs 3 s.
      await eventually(
        () => upstream.calls.some((c) => c.body.stream === true),
        (upstreamHasIt) => upstreamHasIt,
      );
      await new Promise((r) => setTimeout(r, 1_500));

      const first = await Promise.all(Array.from({ length: 5 }, () => t.complete(client.key, SHORT)));
      expect(first.every((r) => r.errors === undefined)).toBe(true);
      const more = await Promise.all(Array.from({ length: 20 }, () => t.complete(client.key, SHORT)));
      expect(more.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(Array(20).fill('BUDGET_EXCEEDED'));
      expect(await streamed).toContain('[DONE]');
      const books = await eventually(
        () => ledger(t, projectId, budget),
        (l) => l.activeReservations === 0,
      );
      expect(books.spent).toBeLessThanOrEqual(limit);
      expect(books).toMatchObject({ spent: limit, reserved: 0n, usageCost: limit, requests: 6 });
    });
  });

  describe('estimate error cannot break the limit', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await TestServer.start();
    }, 120_000);
    afterAll(() => t.close());

    /** An upstream that counts `ratio` times our prompt tokens and bills every allowed completion token. */
    const countsMore =
      (ratio: number): UpstreamHandler =>
      (call, res) =>
        sendJson(
          res,
          200,
          completionBody(
            call.body.model,
            Math.ceil(countChatTokens(call.body.messages as ChatMessage[]) * ratio),
            call.body.max_tokens ?? 0,
          ),
        );

    it.each([1.1, 1.3])(
      'an upstream counting %sx our prompt tokens: 40 concurrent calls, spend <= limit with the default margins',
      async (ratio) => {
        const { projectId, adminKey } = await t.createProject(`drift-${ratio}`);
        await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl }); // default margins: deepseek has none set
        const client = await t.createKey(adminKey, 'CLIENT');
        upstream.handler = countsMore(ratio);
        const call = { ...SHORT, messages: user('word '.repeat(400)), maxTokens: 20 };
        const reserved = await worstCaseOf(t, client.key, call);
        const limit = reserved * 10n;
        const budget = await t.createBudget(adminKey, { period: 'DAILY', limitUsd: formatUsd(limit) });
        const results = await Promise.all(Array.from({ length: 40 }, () => t.complete(client.key, call)));
        const served = results.filter((r) => r.errors === undefined).length;
        expect(served).toBeGreaterThanOrEqual(10);
        const books = await ledger(t, projectId, budget);
        expect(books.spent).toBeLessThanOrEqual(limit);
        expect(books).toMatchObject({ reserved: 0n, usageCost: books.spent });
        expect(
          await t.count('alerts', `project_id = $1 AND type = 'RESERVATION_EXCEEDED'`, [projectId]),
        ).toBe(0);
      },
    );

    it('an upstream counting past the margin: RESERVATION_EXCEEDED fires, and the model learns to reserve more', async () => {
      const { projectId, adminKey } = await t.createProject('drift-far');
      await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
      const client = await t.createKey(adminKey, 'CLIENT');
      upstream.handler = countsMore(2);
      const call = { ...SHORT, messages: user('word '.repeat(400)), maxTokens: 20 };
      await t.createBudget(adminKey, { period: 'DAILY', limitUsd: '1' });
      const before = await worstCaseOf(t, client.key, call);
      const first = await t.complete(client.key, call);
      expect(first.errors).toBeUndefined();
      expect(parseUsd(first.data!.createChatCompletion.cost as string)).toBeGreaterThan(before);
      // one alert, naming that call
      const alerts = (await t.app.db.query(
        `SELECT snapshot FROM alerts WHERE project_id = $1 AND type = 'RESERVATION_EXCEEDED'`,
        [projectId],
      )) as { snapshot: { requestId: string; reserved: string; charged: string } }[];
      expect(alerts.map((a) => a.snapshot)).toEqual([
        {
          requestId: first.data!.createChatCompletion.requestId,
          model: 'deepseek-chat',
          reserved: formatUsd(before),
          charged: first.data!.createChatCompletion.cost,
          promptEstimate: expect.any(Number),
        },
      ]);
      const second = await t.complete(client.key, call);
      expect(second.errors).toBeUndefined();
      // the learned ratio widens the reservation past what the upstream bills
      const after = await worstCaseOf(t, client.key, call);
      expect(after).toBeGreaterThanOrEqual(parseUsd(second.data!.createChatCompletion.cost as string));
      const models = await t.ok<{
        models: { name: string; promptMargin: number | null; effectivePromptMargin: number }[];
      }>('{ models { name promptMargin effectivePromptMargin } }', {}, client.key);
      expect(models.models.find((m) => m.name === 'deepseek-chat')).toMatchObject({ promptMargin: null });
      expect(
        models.models.find((m) => m.name === 'deepseek-chat')!.effectivePromptMargin,
      ).toBeGreaterThanOrEqual(1);
      // and, learned, a storm on a tight budget stays within it
      const limit = after * 8n;
      const tight = await t.createProject('drift-far-tight');
      await t.addCatalog(tight.adminKey, { baseUrl: upstream.baseUrl });
      const tightClient = await t.createKey(tight.adminKey, 'CLIENT');
      await t.complete(tightClient.key, call); // this project's model learns too
      const budget = await t.createBudget(tight.adminKey, { period: 'DAILY', limitUsd: formatUsd(limit) });
      await Promise.all(Array.from({ length: 30 }, () => t.complete(tightClient.key, call)));
      expect((await ledger(t, tight.projectId, budget)).spent).toBeLessThanOrEqual(limit);
    });
  });

  describe('a call has a deadline', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await TestServer.start({ TOLLGATE_CALL_DEADLINE_MS: '1500', TOLLGATE_RETRY_BASE_DELAY_MS: '1' });
    }, 120_000);
    afterAll(() => t.close());

    it('a hanging upstream ends the call at its deadline, retries and fallbacks included, holding nothing', async () => {
      const { projectId, adminKey } = await t.createProject('deadline');
      await t.ok(
        'mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }',
        {
          input: {
            name: 'upstream',
            kind: 'OPENAI_COMPATIBLE',
            baseUrl: upstream.baseUrl,
            upstreamKeys: ['k'],
            timeoutMs: 1000,
          },
        },
        adminKey,
      );
      for (const name of ['deepseek-chat', 'gemini-2.5-flash']) {
        await t.ok(
          'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
          {
            input: { name, provider: 'upstream', promptPrice: '1', completionPrice: '1', tiers: ['SIMPLE'] },
          },
          adminKey,
        );
      }
      const budget = await t.createBudget(adminKey, { period: 'DAILY', limitUsd: '1' });
      const client = await t.createKey(adminKey, 'CLIENT');
      upstream.handler = () => undefined; // never answers
      const started = performance.now();
      const result = await t.complete(client.key, { messages: user('Is this spam?'), maxTokens: 10 });
      const elapsed = performance.now() - started;
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', deadline: true });
      expect(elapsed).toBeGreaterThanOrEqual(1_400);
      expect(elapsed).toBeLessThan(2_500);
      expect(upstream.calls.map((c) => c.body.model)).toEqual(['deepseek-chat', 'gemini-2.5-flash']);
      expect(await ledger(t, projectId, budget)).toMatchObject({
        spent: 0n,
        reserved: 0n,
        activeReservations: 0,
      });
    });
  });

  describe('idempotency keys', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await TestServer.start({ TOLLGATE_IDEMPOTENCY_LEASE_MS: '500' });
    }, 120_000);
    afterAll(() => t.close());

    it('the same key with another request is refused: IDEMPOTENCY_KEY_REUSED, 422 on /v1, not retried', async () => {
      const { adminKey } = await t.createProject('reuse');
      await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
      const client = await t.createKey(adminKey, 'CLIENT');
      const key = `idem-${crypto.randomUUID()}`;
      expect((await t.complete(client.key, { ...SHORT, requestId: key })).errors).toBeUndefined();
      const again = await t.complete(client.key, { ...SHORT, requestId: key });
      expect(again.data!.createChatCompletion.replayed).toBe(true);
      const other = await t.complete(client.key, {
        ...SHORT,
        messages: user('Something else'),
        requestId: key,
      });
      expect(other.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');

      const openai = new OpenAI({
        apiKey: client.key,
        baseURL: t.app.url.replace('/graphql', '/v1'),
        maxRetries: 2,
      });
      const restKey = `rest-${crypto.randomUUID()}`;
      await openai.chat.completions.create(
        { model: 'deepseek-chat', messages: [{ role: 'user', content: 'one' }], max_tokens: 10 },
        { headers: { 'idempotency-key': restKey } },
      );
      const calls = upstream.calls.length;
      const error = (await openai.chat.completions
        .create(
          { model: 'deepseek-chat', messages: [{ role: 'user', content: 'two' }], max_tokens: 10 },
          { headers: { 'idempotency-key': restKey } },
        )
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(error).toBeInstanceOf(OpenAI.UnprocessableEntityError);
      expect(error.code).toBe('idempotency_key_reused');
      expect(upstream.calls.length).toBe(calls);
    });
  });
});
