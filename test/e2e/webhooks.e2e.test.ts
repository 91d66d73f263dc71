import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatUsd } from '../../src/shared/money';
import { addBillingCatalog, clearOfMidnight, worstCaseOf, worstCaseReply } from '../support/billing';
import { FakeUpstream } from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

const CALL = { model: 'deepseek-chat', messages: user('Ping'), maxTokens: 100 };

interface Receipt {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  /** The status answered; null when the receiver hung up or never answered. */
  answered: number | null;
}

/** What a receiver does with a request: answer with a status, drop the connection, or never answer. */
type Behaviour = (receipt: Receipt, previous: Receipt[]) => number | 'drop' | 'hang';

/** A real webhook receiver on a local port that records every request it gets. */
class Receiver {
  readonly receipts: Receipt[] = [];
  private readonly server: http.Server;
  private readonly hanging: http.ServerResponse[] = [];

  constructor(public behaviour: Behaviour) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const receipt: Receipt = { headers: req.headers, body, json: JSON.parse(body), answered: null };
        const action = this.behaviour(receipt, [...this.receipts]);
        this.receipts.push(receipt);
        if (action === 'hang') this.hanging.push(res);
        else if (action === 'drop') req.socket.destroy();
        else {
          receipt.answered = action;
          res.writeHead(action, { 'content-type': 'text/plain' }).end('ok');
        }
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  get hung(): number {
    return this.hanging.length;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Checks a receipt the way a receiver should: v1=hex(HMAC-SHA256(secret, `${timestamp}.${body}`)). */
function signedBy(secret: string, r: Receipt): boolean {
  const timestamp = r.headers['x-tollgate-timestamp'];
  const signature = r.headers['x-tollgate-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${r.body}`).digest('hex')}`;
  return (
    signature.length === expected.length &&
    crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

interface Delivery {
  id: string;
  endpointId: string;
  alertId: string | null;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  payload: Record<string, unknown>;
}

const DELIVERY_FIELDS = 'id endpointId alertId status attempts lastStatusCode lastError deliveredAt payload';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe('webhooks: outbox delivery with retries, signatures, and no effect on the request path', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    upstream.handler = worstCaseReply;
    t = await TestServer.start({ TOLLGATE_WEBHOOK_POLL_MS: '50', TOLLGATE_WEBHOOK_BACKOFF_MS: '20' });
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  async function tenant(name: string) {
    const { projectId, adminKey } = await t.createProject(name);
    const client = await t.createKey(adminKey, 'CLIENT');
    await addBillingCatalog(t, adminKey, upstream.baseUrl);
    return { projectId, admin: adminKey, client };
  }

  async function addEndpoint(admin: string, receiver: Receiver, format: 'JSON' | 'SLACK' = 'JSON') {
    const data = await t.ok<{ addWebhookEndpoint: { endpoint: { id: string }; secret: string } }>(
      'mutation($input: AddWebhookInput!) { addWebhookEndpoint(input: $input) { endpoint { id } secret } }',
      { input: { url: receiver.url, format } },
      admin,
    );
    return { id: data.addWebhookEndpoint.endpoint.id, secret: data.addWebhookEndpoint.secret };
  }

  async function deliveries(admin: string, endpointId?: string, server = t): Promise<Delivery[]> {
    const data = await server.ok<{ webhookDeliveries: Delivery[] }>(
      `query($id: ID) { webhookDeliveries(endpointId: $id) { ${DELIVERY_FIELDS} } }`,
      { id: endpointId ?? null },
      admin,
    );
    return data.webhookDeliveries;
  }

  function receiverFor(cleanup: TestServer, behaviour: Behaviour): Promise<Receiver> {
    const receiver = new Receiver(behaviour);
    cleanup.defer(() => receiver.stop());
    return receiver.start();
  }

  it('a receiver that fails the first 3 deliveries gets each alert exactly once, validly signed', async () => {
    // fails each alert three ways (500, 429, dropped connection), then takes it
    const failures = [500, 429, 'drop'] as const;
    const receiver = await receiverFor(t, (r, previous) => {
      const before = previous.filter((p) => p.json.id === r.json.id).length;
      return failures[before] ?? 200;
    });
    const { projectId, admin, client } = await tenant('flaky-receiver');
    const endpoint = await addEndpoint(admin, receiver);
    const cost = await worstCaseOf(t, client.key, CALL);
    await clearOfMidnight();
    const budget = await t.createBudget(admin, {
      period: 'DAILY',
      limitUsd: formatUsd(cost * 2n),
      thresholds: [0.5],
    });
    // first call: 50% (and a projected overrun); second: the limit itself
    for (let i = 0; i < 2; i++) expect((await t.complete(client.key, CALL)).errors).toBeUndefined();

    const alerts = (await t.app.db.query(
      'SELECT id, type, severity, threshold::float8 AS threshold FROM alerts WHERE project_id = $1 ORDER BY created_at',
      [projectId],
    )) as { id: string; type: string; severity: string; threshold: number | null }[];
    expect(alerts.map((a) => a.type).sort()).toEqual([
      'BUDGET_THRESHOLD',
      'DAILY_BUDGET_EXCEEDED',
      'PROJECTED_OVERRUN',
    ]);

    const done = await eventually(
      () => deliveries(admin, endpoint.id),
      (ds) => ds.length === alerts.length && ds.every((d) => d.status === 'DELIVERED'),
      10_000,
    );
    // The worker polls on: a marker delivery whose receiver fails it three times is delivered at the
    // fourth round after this point, and none of those rounds sends any of the above again.
    const marker = await receiverFor(t, (_r, previous) => (previous.length < 3 ? 500 : 200));
    const markerEndpoint = await addEndpoint(admin, marker);
    await t.ok('mutation($id: ID!) { testWebhook(id: $id) { id } }', { id: markerEndpoint.id }, admin);
    await eventually(
      () => deliveries(admin, markerEndpoint.id),
      ([d]) => d?.status === 'DELIVERED',
      10_000,
    );
    expect(marker.receipts.map((r) => r.answered)).toEqual([500, 500, 500, 200]);
    expect(await deliveries(admin, endpoint.id)).toEqual(done);

    for (const alert of alerts) {
      const got = receiver.receipts.filter((r) => r.json.id === alert.id);
      expect(got.map((r) => r.answered)).toEqual([500, 429, null, 200]);
      expect(got.filter((r) => r.answered === 200)).toHaveLength(1);
      expect(got.every((r) => signedBy(endpoint.secret, r))).toBe(true);
      expect(got.some((r) => signedBy('whsec_not-the-secret', r))).toBe(false);
      // one delivery, retried: the same delivery id on every attempt, so a receiver can dedupe
      expect(new Set(got.map((r) => r.headers['x-tollgate-delivery'])).size).toBe(1);
      expect(got[3]!.json).toMatchObject({
        id: alert.id,
        projectId,
        budgetId: budget,
        type: alert.type,
        severity: alert.severity,
        threshold: alert.threshold,
      });
      const delivery = done.find((d) => d.alertId === alert.id)!;
      expect(delivery).toMatchObject({
        status: 'DELIVERED',
        attempts: 4,
        lastStatusCode: 200,
        lastError: null,
      });
      expect(delivery.deliveredAt).not.toBeNull();
      expect(got[3]!.headers['x-tollgate-delivery']).toBe(delivery.id);
    }
    expect(receiver.receipts).toHaveLength(alerts.length * 4);
  });

  it('testWebhook sends a signed sample, and webhookDeliveries shows it pending, retried, then delivered', async () => {
    let healthy = false;
    const receiver = await receiverFor(t, () => (healthy ? 204 : 503));
    const { admin } = await tenant('test-webhook');
    const endpoint = await addEndpoint(admin, receiver);

    const queued = await t.ok<{ testWebhook: Delivery }>(
      `mutation($id: ID!) { testWebhook(id: $id) { ${DELIVERY_FIELDS} } }`,
      { id: endpoint.id },
      admin,
    );
    expect(queued.testWebhook).toMatchObject({
      endpointId: endpoint.id,
      alertId: null,
      status: 'PENDING',
      attempts: 0,
      lastError: null,
      deliveredAt: null,
    });
    expect(queued.testWebhook.payload.message).toBe('Test delivery from Tollgate');

    const failing = await eventually(
      () => deliveries(admin, endpoint.id),
      ([d]) => d !== undefined && d.attempts >= 2,
      10_000,
    );
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatchObject({
      id: queued.testWebhook.id,
      status: 'PENDING',
      lastStatusCode: 503,
      lastError: 'receiver answered 503',
      deliveredAt: null,
    });

    healthy = true;
    const [delivered] = await eventually(
      () => deliveries(admin, endpoint.id),
      ([d]) => d!.status === 'DELIVERED',
      10_000,
    );
    expect(delivered).toMatchObject({ lastStatusCode: 204, lastError: null });
    expect(delivered!.attempts).toBe(receiver.receipts.length);
    expect(delivered!.attempts).toBeGreaterThanOrEqual(3);
    expect(receiver.receipts.every((r) => signedBy(endpoint.secret, r))).toBe(true);
    expect(receiver.receipts.at(-1)!.json).toMatchObject({
      type: 'BUDGET_THRESHOLD',
      message: 'Test delivery from Tollgate',
    });
    expect(receiver.receipts.at(-1)!.headers['content-type']).toBe('application/json');
  });

  it('sends SLACK endpoints Slack blocks, signed the same way', async () => {
    const receiver = await receiverFor(t, () => 200);
    const { admin } = await tenant('slack');
    const endpoint = await addEndpoint(admin, receiver, 'SLACK');
    await t.ok('mutation($id: ID!) { testWebhook(id: $id) { id } }', { id: endpoint.id }, admin);
    await eventually(
      () => receiver.receipts.length,
      (n) => n === 1,
    );
    const r = receiver.receipts[0]!;
    expect(signedBy(endpoint.secret, r)).toBe(true);
    expect(r.json.text).toBe('Tollgate budget alert: BUDGET_THRESHOLD');
    const blocks = r.json.blocks as { type: string; fields?: { text: string }[] }[];
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect(blocks[1]!.fields!.map((f) => f.text.split('\n')[0])).toEqual([
      '*Severity:*',
      '*Threshold:*',
      '*Current Utilization:*',
      '*Timestamp:*',
    ]);
    expect(blocks[1]!.fields![2]!.text).toBe('*Current Utilization:*\n50.00%');
  });

  // Last: it shuts the server down (another instance on its database takes over).
  it('a receiver that never answers does not slow completions, nor the shutdown', async () => {
    const healthy = await receiverFor(t, () => 200);
    const hanging = await receiverFor(t, () => 'hang');
    const { projectId, admin } = await tenant('hung-receiver');
    const a = await t.createKey(admin, 'CLIENT', 'a');
    const b = await t.createKey(admin, 'CLIENT', 'b');
    const cost = await worstCaseOf(t, a.key, CALL);
    // thresholds every 2%, a limit of 50 calls: every call crosses one, so every call fires an alert
    const thresholds = Array.from({ length: 50 }, (_, i) => Number(((i + 1) * 0.02).toFixed(2)));
    await clearOfMidnight();
    for (const key of [a, b]) {
      await t.createBudget(admin, {
        apiKeyId: key.id,
        period: 'DAILY',
        limitUsd: formatUsd(cost * 50n),
        thresholds,
      });
    }
    const timed = async (key: string, n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        const result = await t.complete(key, CALL);
        ms.push(performance.now() - started);
        expect(result.errors).toBeUndefined();
      }
      return ms;
    };

    // Without it: a healthy receiver takes every alert.
    const fast = await addEndpoint(admin, healthy);
    await timed(a.key, 2); // warm up
    const without = await timed(a.key, 20);
    const fired = await t.count('alerts', 'project_id = $1', [projectId]);
    expect(fired).toBeGreaterThanOrEqual(22); // one threshold per call (and maybe a projected overrun)
    await eventually(
      () => deliveries(admin, fast.id),
      (ds) => ds.length === fired && ds.every((d) => d.status === 'DELIVERED'),
      10_000,
    );

    // With it: the worker is stuck on a receiver that never answers.
    await t.ok(
      'mutation($id: ID!) { setWebhookEndpointEnabled(id: $id, enabled: false) { id } }',
      { id: fast.id },
      admin,
    );
    const hung = await addEndpoint(admin, hanging);
    await timed(b.key, 2);
    await eventually(
      () => hanging.hung,
      (n) => n >= 1,
    );
    const withIt = await timed(b.key, 20);

    expect(median(withIt)).toBeLessThan(2 * median(without) + 20);
    // every one of those calls fired an alert whose delivery is waiting on the hung receiver
    const [alerted] = (await t.app.db.query(
      `SELECT count(*)::int AS n FROM alerts a JOIN budgets b ON b.id = a.budget_id
        WHERE a.project_id = $1 AND b.api_key_id = $2 AND a.type = 'BUDGET_THRESHOLD'`,
      [projectId, b.id],
    )) as { n: number }[];
    expect(alerted!.n).toBe(22);
    const pending = await deliveries(admin, hung.id);
    expect(pending.length).toBeGreaterThanOrEqual(22);
    expect(pending.every((d) => d.status === 'PENDING' && d.attempts === 0)).toBe(true);
    expect(hanging.receipts.every((r) => r.answered === null)).toBe(true);

    // Shutting down does not wait out the receiver (10 s timeout), and the cut-short deliveries are
    // neither counted as failed attempts nor left leased (for 60 s): another instance takes them at once.
    const stopping = performance.now();
    await t.app.close();
    expect(performance.now() - stopping).toBeLessThan(2_000);
    hanging.behaviour = () => 200;
    const next = await TestServer.start(
      {
        TOLLGATE_SECRET_KEY: t.config.secretKey!,
        TOLLGATE_DATA_DIR: t.config.dataDir, // the embedded database, when there is no DATABASE_URL
        TOLLGATE_WEBHOOK_POLL_MS: '50',
        TOLLGATE_WEBHOOK_BACKOFF_MS: '20',
      },
      { databaseUrl: t.config.databaseUrl },
    );
    t.defer(() => next.close());
    const taken = await eventually(
      () => deliveries(admin, hung.id, next),
      (ds) => ds.every((d) => d.status === 'DELIVERED'),
      10_000,
    );
    expect(taken.length).toBeGreaterThanOrEqual(pending.length);
    expect(taken.map((d) => d.attempts)).toEqual(taken.map(() => 1));
  }, 60_000);
});
