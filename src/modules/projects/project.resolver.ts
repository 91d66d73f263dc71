import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from './request-context';
import { requireAuth, requireOperator, requireProjectKey } from './auth.service';
import type { ProjectService } from './project.service';
import {
  ApiKeyType,
  CreateApiKeyInput,
  CreatedApiKeyType,
  CreatedProjectType,
  MeType,
  ProjectType,
} from './project.types';

@Resolver()
export class ProjectResolver {
  constructor(private readonly projectService: ProjectService) {}

  @Query(() => MeType, { description: 'Who the presented key is.' })
  async me(@Ctx() ctx: Context): Promise<MeType> {
    const who = requireAuth(ctx);
    if (who.kind === 'operator') return { kind: 'OPERATOR', project: null, apiKey: null };
    const [project, apiKey] = await Promise.all([
      this.projectService.getProject(who.projectId),
      ctx.loaders.apiKey.load(who.keyId),
    ]);
    return { kind: 'API_KEY', project, apiKey: apiKey as ApiKeyType | null };
  }

  @Query(() => [ProjectType], { description: 'Operator only.' })
  projects(@Ctx() ctx: Context): Promise<ProjectType[]> {
    requireOperator(ctx);
    return this.projectService.listProjects();
  }

  @Query(() => [ApiKeyType], { description: "The project's keys (ADMIN)." })
  apiKeys(@Ctx() ctx: Context): Promise<ApiKeyType[]> {
    const who = requireProjectKey(ctx, true);
    return this.projectService.listApiKeys(who.projectId) as Promise<ApiKeyType[]>;
  }

  @Mutation(() => CreatedProjectType, {
    description: 'Operator only: a new project and its first ADMIN key.',
  })
  async createProject(@Ctx() ctx: Context, @Arg('name') name: string): Promise<CreatedProjectType> {
    requireOperator(ctx);
    const { project, adminKey } = await this.projectService.createProject(name);
    return { project, adminKey: { apiKey: adminKey.apiKey as ApiKeyType, key: adminKey.plaintext } };
  }

  @Mutation(() => CreatedApiKeyType)
  async createApiKey(
    @Ctx() ctx: Context,
    @Arg('input') input: CreateApiKeyInput,
  ): Promise<CreatedApiKeyType> {
    const who = requireProjectKey(ctx, true);
    const created = await this.projectService.createApiKey(who.projectId, input.name, input.role, {
      rpmLimit: input.rpmLimit,
      tpmLimit: input.tpmLimit,
    });
    return { apiKey: created.apiKey as ApiKeyType, key: created.plaintext };
  }

  @Mutation(() => ApiKeyType)
  async revokeApiKey(@Ctx() ctx: Context, @Arg('id', () => ID) id: string): Promise<ApiKeyType> {
    const who = requireProjectKey(ctx, true);
    return (await this.projectService.revokeApiKey(who.projectId, id)) as ApiKeyType;
  }
}
