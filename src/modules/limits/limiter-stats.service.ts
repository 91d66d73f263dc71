import { IsNull, type DataSource } from 'typeorm';
import { ApiKey } from '../projects/api-key.entity';
import type { CatalogService } from '../providers/catalog.service';
import type { BreakerRegistry, CircuitView } from '../upstream/circuit-breaker';
import type { GatewayLimiter } from './gateway-limiter';
import type { UpstreamKeyView, UpstreamLimiter } from '../upstream/upstream-limiter';

export interface ModelCircuit extends CircuitView {
  provider: string;
}

export interface RateLimitView {
  rpmLimit: number | null;
  tpmLimit: number | null;
  availableRequests: number | null;
  availableTokens: number | null;
  /** The fuller of the two buckets' used share, in [0, 1]. */
  utilization: number;
}

export interface GatewayKeyView extends RateLimitView {
  apiKeyId: string;
  name: string;
  prefix: string;
}

export interface LimiterStats {
  /** True when gateway-key and project limits live in Redis (shared by every instance). */
  distributed: boolean;
  active: number;
  queued: number;
  upstreamKeys: UpstreamKeyView[];
  circuits: ModelCircuit[];
  gatewayKeys: GatewayKeyView[];
  project: RateLimitView;
}

/** Read side of the limiters for the `limiterStats` query and the providers' and models' status fields. */
export class LimiterStatsService {
  constructor(
    private readonly db: DataSource,
    private readonly catalog: CatalogService,
    private readonly upstream: UpstreamLimiter,
    private readonly breakers: BreakerRegistry,
    private readonly gateway: GatewayLimiter,
  ) {}

  async stats(projectId: string): Promise<LimiterStats> {
    const [upstreamKeys, circuits, gatewayKeys, project] = await Promise.all([
      this.upstreamKeys(projectId),
      this.circuits(projectId),
      this.gatewayKeys(projectId),
      this.gateway.peekProject(projectId),
    ]);
    const limits = this.gateway.projectLimits;
    return {
      distributed: this.gateway.distributed,
      active: upstreamKeys.reduce((n, k) => n + k.active, 0),
      queued: upstreamKeys.reduce((n, k) => n + k.queued, 0),
      upstreamKeys,
      circuits,
      gatewayKeys,
      project: view(limits.rpm, limits.tpm, project),
    };
  }

  async upstreamKeys(projectId: string, providerId?: string): Promise<UpstreamKeyView[]> {
    const { providers } = await this.catalog.catalog(projectId);
    return [...providers.values()]
      .filter((p) => providerId === undefined || p.id === providerId)
      .flatMap((p) => this.upstream.view(p));
  }

  /** Every model's circuit (a model never called reads CLOSED). */
  async circuits(projectId: string, providerId?: string): Promise<ModelCircuit[]> {
    const { providers, models } = await this.catalog.catalog(projectId);
    return [...models.values()]
      .filter((m) => providerId === undefined || m.providerId === providerId)
      .map((m) => ({
        ...this.breakers.view(m.providerId, m.name),
        provider: providers.get(m.providerId)?.name ?? '',
      }));
  }

  async circuit(projectId: string, model: string): Promise<ModelCircuit | null> {
    const { providers, models } = await this.catalog.catalog(projectId);
    const m = models.get(model);
    if (!m) return null;
    return { ...this.breakers.view(m.providerId, m.name), provider: providers.get(m.providerId)?.name ?? '' };
  }

  private async gatewayKeys(projectId: string): Promise<GatewayKeyView[]> {
    const keys = await this.db
      .getRepository(ApiKey)
      .find({ where: { projectId, revokedAt: IsNull() }, order: { createdAt: 'ASC' } });
    const limited = keys.filter((k) => k.rpmLimit !== null || k.tpmLimit !== null);
    return Promise.all(
      limited.map(async (k) => {
        const level = await this.gateway.peekKey({
          keyId: k.id,
          projectId,
          rpmLimit: k.rpmLimit,
          tpmLimit: k.tpmLimit,
        });
        return { apiKeyId: k.id, name: k.name, prefix: k.prefix, ...view(k.rpmLimit, k.tpmLimit, level) };
      }),
    );
  }
}

function view(
  rpm: number | null,
  tpm: number | null,
  level: { requests: number | null; tokens: number | null },
): RateLimitView {
  const used = (limit: number | null, left: number | null) =>
    limit && left !== null ? Math.min(1, Math.max(0, 1 - left / limit)) : 0;
  return {
    rpmLimit: rpm,
    tpmLimit: tpm,
    availableRequests: level.requests,
    availableTokens: level.tokens,
    utilization: Math.max(used(rpm, level.requests), used(tpm, level.tokens)),
  };
}
