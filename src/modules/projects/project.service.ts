import type { DataSource, Repository } from 'typeorm';
import { BadInputError, NotFoundError } from '../../shared/errors';
import type { EventBus } from '../events/event-bus';
import { ApiKey, type ApiKeyRole } from './api-key.entity';
import { generateKey, type AuthService } from './auth.service';
import { Project } from './project.entity';

export interface CreatedKey {
  apiKey: ApiKey;
  /** Shown once; only the hash is stored. */
  plaintext: string;
}

export interface KeyLimits {
  rpmLimit?: number | null;
  tpmLimit?: number | null;
}

export class ProjectService {
  constructor(
    private readonly db: DataSource,
    private readonly auth: AuthService,
    /** A revoke is announced, so every instance closes the key's sockets and drops it from its cache. */
    private readonly bus: EventBus,
  ) {}

  /** A new project with its first ADMIN key. */
  async createProject(name: string): Promise<{ project: Project; adminKey: CreatedKey }> {
    const clean = checkName(name, 'name');
    return this.db.transaction(async (tx) => {
      const project = await tx.getRepository(Project).save(tx.getRepository(Project).create({ name: clean }));
      const adminKey = await this.insertKey(tx.getRepository(ApiKey), project.id, 'admin', 'ADMIN', {});
      return { project, adminKey };
    });
  }

  async getProject(id: string): Promise<Project> {
    const project = await this.db.getRepository(Project).findOne({ where: { id } });
    if (!project) throw new NotFoundError('Project');
    return project;
  }

  listProjects(): Promise<Project[]> {
    return this.db.getRepository(Project).find({ order: { createdAt: 'ASC' } });
  }

  createApiKey(projectId: string, name: string, role: ApiKeyRole, limits: KeyLimits): Promise<CreatedKey> {
    return this.insertKey(this.db.getRepository(ApiKey), projectId, checkName(name, 'name'), role, limits);
  }

  listApiKeys(projectId: string): Promise<ApiKey[]> {
    return this.db.getRepository(ApiKey).find({ where: { projectId }, order: { createdAt: 'ASC' } });
  }

  async revokeApiKey(projectId: string, keyId: string): Promise<ApiKey> {
    const repo = this.db.getRepository(ApiKey);
    const key = await repo.findOne({ where: { id: keyId, projectId } });
    if (!key) throw new NotFoundError('API key');
    if (!key.revokedAt) {
      key.revokedAt = new Date();
      await repo.update({ id: key.id }, { revokedAt: key.revokedAt });
    }
    this.auth.evict(key.id);
    this.bus.publish('keyRevoked', { projectId, keyId: key.id });
    return key;
  }

  private async insertKey(
    repo: Repository<ApiKey>,
    projectId: string,
    name: string,
    role: ApiKeyRole,
    limits: KeyLimits,
  ): Promise<CreatedKey> {
    for (const [field, value] of Object.entries(limits)) {
      if (value !== null && value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new BadInputError(`${field} must be a positive integer`, field);
      }
    }
    const { plaintext, prefix, hash } = generateKey();
    const apiKey = await repo.save(
      repo.create({
        projectId,
        name,
        role,
        prefix,
        keyHash: hash,
        rpmLimit: limits.rpmLimit ?? null,
        tpmLimit: limits.tpmLimit ?? null,
        revokedAt: null,
      }),
    );
    return { apiKey, plaintext };
  }
}

export function checkName(value: string, field: string, max = 200): string {
  const clean = value.trim();
  if (clean.length === 0 || clean.length > max) {
    throw new BadInputError(`${field} must be 1 to ${max} characters`, field);
  }
  return clean;
}
