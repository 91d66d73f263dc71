import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ApiKeyRole, type ApiKey } from './api-key.entity';
import type { Project } from './project.entity';

registerEnumType(ApiKeyRole, {
  name: 'ApiKeyRole',
  description: 'ADMIN manages the project; CLIENT makes calls and reads.',
});

@ObjectType('Project')
export class ProjectType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() createdAt!: Date;
  @Field(() => String, {
    nullable: true,
    description:
      'The configuration file that declares this project (what it lists there cannot be edited through the API; the API may add more); null: none does.',
  })
  managedBy!: string | null;
}

@ObjectType('ApiKey', { description: 'A gateway key. The plaintext is never shown again after creation.' })
export class ApiKeyType {
  @Field(() => ID) id!: string;
  @Field(() => ID) projectId!: string;
  @Field() name!: string;
  @Field(() => ApiKeyRole) role!: ApiKeyRole;
  @Field({ description: 'The first characters of the key, to tell keys apart.' }) prefix!: string;
  @Field(() => Int, { nullable: true }) rpmLimit!: number | null;
  @Field(() => Int, { nullable: true }) tpmLimit!: number | null;
  @Field() createdAt!: Date;
  @Field(() => Date, { nullable: true }) revokedAt!: Date | null;
  @Field(() => String, {
    nullable: true,
    description:
      'The configuration file that owns this key (edits through the API are refused); null: the API does.',
  })
  managedBy!: string | null;
}

@ObjectType('CreatedApiKey')
export class CreatedApiKeyType {
  @Field(() => ApiKeyType) apiKey!: ApiKeyType;
  @Field({ description: 'The key itself (tg_...). Shown once: store it now.' }) key!: string;
}

@ObjectType('CreatedProject')
export class CreatedProjectType {
  @Field(() => ProjectType) project!: ProjectType;
  @Field(() => CreatedApiKeyType) adminKey!: CreatedApiKeyType;
}

@ObjectType('Me')
export class MeType {
  @Field({ description: 'OPERATOR or API_KEY' }) kind!: string;
  @Field(() => ProjectType, { nullable: true }) project!: ProjectType | null;
  @Field(() => ApiKeyType, { nullable: true }) apiKey!: ApiKeyType | null;
}

@InputType()
export class CreateApiKeyInput {
  @Field() name!: string;
  @Field(() => ApiKeyRole, { defaultValue: ApiKeyRole.CLIENT }) role!: ApiKeyRole;
  @Field(() => Int, { nullable: true, description: 'Requests per minute (none: unlimited).' }) rpmLimit?:
    number | null;
  @Field(() => Int, { nullable: true, description: 'Tokens per minute (none: unlimited).' }) tpmLimit?:
    number | null;
}

/** A key as GraphQL shows it: everything but its hash. */
export function apiKeyView(k: ApiKey): ApiKeyType {
  return {
    id: k.id,
    projectId: k.projectId,
    name: k.name,
    role: k.role,
    prefix: k.prefix,
    rpmLimit: k.rpmLimit,
    tpmLimit: k.tpmLimit,
    createdAt: k.createdAt,
    revokedAt: k.revokedAt,
    managedBy: k.managedBy ?? null,
  };
}

export function projectView(p: Project): ProjectType {
  return { id: p.id, name: p.name, createdAt: p.createdAt, managedBy: p.managedBy ?? null };
}
