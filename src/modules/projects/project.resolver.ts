import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { CurrentKey, CurrentPrincipal, Role } from './access';
import type { KeyPrincipal, Principal } from './auth.service';
import type { Context } from './request-context';
import type { ProjectService } from './project.service';
import {
  apiKeyView,
  ApiKeyType,
  CreateApiKeyInput,
  CreatedApiKeyType,
  CreatedProjectType,
  MeType,
  projectView,
  ProjectType,
} from './project.types';

@Resolver()
export class ProjectResolver {
  constructor(private readonly projectService: ProjectService) {}

  @Authorized(Role.ANYONE)
  @Query(() => MeType, { description: 'Who the presented key is.' })
  async me(@CurrentPrincipal() who: Principal, @Ctx() ctx: Context): Promise<MeType> {
    if (who.kind === 'operator') return { kind: 'OPERATOR', project: null, apiKey: null };
    const [project, apiKey] = await Promise.all([
      this.projectService.getProject(who.projectId),
      ctx.loaders.apiKey.load(who.keyId),
    ]);
    return { kind: 'API_KEY', project: projectView(project), apiKey: apiKey && apiKeyView(apiKey) };
  }

  @Authorized(Role.OPERATOR)
  @Query(() => [ProjectType], { description: 'Operator only.' })
  async projects(): Promise<ProjectType[]> {
    return (await this.projectService.listProjects()).map(projectView);
  }

  @Authorized(Role.ADMIN)
  @Query(() => [ApiKeyType], { description: "The project's keys (ADMIN)." })
  async apiKeys(@CurrentKey() who: KeyPrincipal): Promise<ApiKeyType[]> {
    return (await this.projectService.listApiKeys(who.projectId)).map(apiKeyView);
  }

  @Authorized(Role.OPERATOR)
  @Mutation(() => CreatedProjectType, {
    description: 'Operator only: a new project and its first ADMIN key.',
  })
  async createProject(@Arg('name') name: string): Promise<CreatedProjectType> {
    const { project, adminKey } = await this.projectService.createProject(name);
    return {
      project: projectView(project),
      adminKey: { apiKey: apiKeyView(adminKey.apiKey), key: adminKey.plaintext },
    };
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => CreatedApiKeyType)
  async createApiKey(
    @CurrentKey() who: KeyPrincipal,
    @Arg('input') input: CreateApiKeyInput,
  ): Promise<CreatedApiKeyType> {
    const created = await this.projectService.createApiKey(who.projectId, input.name, input.role, {
      rpmLimit: input.rpmLimit,
      tpmLimit: input.tpmLimit,
    });
    return { apiKey: apiKeyView(created.apiKey), key: created.plaintext };
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => ApiKeyType)
  async revokeApiKey(@CurrentKey() who: KeyPrincipal, @Arg('id', () => ID) id: string): Promise<ApiKeyType> {
    return apiKeyView(await this.projectService.revokeApiKey(who.projectId, id));
  }
}
