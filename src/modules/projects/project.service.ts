import type { DataSource, Repository } from 'typeorm';
import { BadInputError, NotFoundError } from '../../shared/errors';
import { assertOwner, type ChangeOptions } from '../../shared/managed';
import type { EventBus } from '../events/event-bus';
import { ApiKey, type ApiKeyRole } from './api-key.entity';
import { generateKey, givenKey, type AuthService } from './auth.service';
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

/** A key as a configuration file makes it: its owner, and its text when the file gives one. */
export interface KeyOptions extends ChangeOptions {
  /** The key itself (tg_...); absent: generated. */
  secret?: string;
}

/** What a configuration file may change of a key it owns. */
export interface KeyChanges extends KeyLimits {
  role?: ApiKeyRole;
  /** A new text for the key: the old one stops working at once. */
  secret?: string;
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

  /** A project made by a configuration file: no key of its own (the file lists its keys). */
  createManagedProject(name: string, owner: string): Promise<Project> {
    const repo = this.db.getRepository(Project);
    return repo.save(repo.create({ name: checkName(name, 'name'), managedBy: owner }));
  }

  /** Marks a project as a configuration file's (`owner`), or gives it back to the API (null). */
  async setProjectOwner(id: string, owner: string | null): Promise<Project> {
    const project = await this.getProject(id);
    await this.db.getRepository(Project).update({ id }, { managedBy: owner });
    return { ...project, managedBy: owner };
  }

  async getProject(id: string): Promise<Project> {
    const project = await this.db.getRepository(Project).findOne({ where: { id } });
    if (!project) throw new NotFoundError('Project');
    return project;
  }

  listProjects(): Promise<Project[]> {
    return this.db.getRepository(Project).find({ order: { createdAt: 'ASC' } });
  }

  createApiKey(
    projectId: string,
    name: string,
    role: ApiKeyRole,
    limits: KeyLimits,
    options: KeyOptions = {},
  ): Promise<CreatedKey> {
    return this.insertKey(
      this.db.getRepository(ApiKey),
      projectId,
      checkName(name, 'name'),
      role,
      limits,
      options,
    );
  }

  /** A configuration file's edit of a key it owns (or takes over): role, limits, its text. */
  async updateApiKey(
    projectId: string,
    keyId: string,
    changes: KeyChanges,
    options: ChangeOptions = {},
  ): Promise<ApiKey> {
    const repo = this.db.getRepository(ApiKey);
    const key = await repo.findOne({ where: { id: keyId, projectId } });
    if (!key) throw new NotFoundError('API key');
    assertOwner(`API key "${key.name}"`, key.managedBy, options);
    checkKeyLimits(changes);
    const patch: Partial<ApiKey> = { managedBy: options.owner ?? null };
    if (changes.role !== undefined) patch.role = changes.role;
    if (changes.rpmLimit !== undefined) patch.rpmLimit = changes.rpmLimit;
    if (changes.tpmLimit !== undefined) patch.tpmLimit = changes.tpmLimit;
    const given = changes.secret === undefined ? undefined : givenKey(changes.secret);
    const rotated = given !== undefined && given.hash !== key.keyHash;
    if (given && rotated) {
      await refuseTakenSecret(repo, given.hash);
      Object.assign(patch, { prefix: given.prefix, keyHash: given.hash });
    }
    await repo.update({ id: key.id }, patch);
    this.auth.evict(key.id);
    // Sockets opened with the old text close, as on a revoke.
    if (rotated) this.bus.publish('keyRevoked', { projectId, keyId: key.id });
    return { ...key, ...patch };
  }

  listApiKeys(projectId: string): Promise<ApiKey[]> {
    return this.db.getRepository(ApiKey).find({ where: { projectId }, order: { createdAt: 'ASC' } });
  }

  async revokeApiKey(projectId: string, keyId: string, options: ChangeOptions = {}): Promise<ApiKey> {
    const repo = this.db.getRepository(ApiKey);
    const key = await repo.findOne({ where: { id: keyId, projectId } });
    if (!key) throw new NotFoundError('API key');
    assertOwner(`API key "${key.name}"`, key.managedBy, options);
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
    options: KeyOptions = {},
  ): Promise<CreatedKey> {
    checkKeyLimits(limits);
    const { plaintext, prefix, hash } =
      options.secret === undefined ? generateKey() : givenKey(options.secret);
    if (options.secret !== undefined) await refuseTakenSecret(repo, hash);
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
        managedBy: options.owner ?? null,
      }),
    );
    return { apiKey, plaintext };
  }
}

/** Requests and tokens per minute: positive integers, or none. */
export function checkKeyLimits(limits: KeyLimits): void {
  for (const field of ['rpmLimit', 'tpmLimit'] as const) {
    const value = limits[field];
    if (value !== null && value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new BadInputError(`${field} must be a positive integer`, field);
    }
  }
}

/** A given key text must be no other key's: not a live one's, and not a revoked one's (it stays revoked). */
async function refuseTakenSecret(repo: Repository<ApiKey>, hash: string): Promise<void> {
  if (await repo.exists({ where: { keyHash: hash } })) {
    throw new BadInputError(
      'this key text is already the text of another key (a revoked one too): use a new one',
      'secret',
    );
  }
}

export function checkName(value: string, field: string, max = 200): string {
  const clean = value.trim();
  if (clean.length === 0 || clean.length > max) {
    throw new BadInputError(`${field} must be 1 to ${max} characters`, field);
  }
  return clean;
}
