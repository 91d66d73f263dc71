import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum ApiKeyRoleEnum {
  ADMIN = 'ADMIN',
  CLIENT = 'CLIENT',
}
registerEnumType(ApiKeyRoleEnum, {
  name: 'ApiKeyRole',
  description: 'ADMIN manages the project; CLIENT makes calls and reads.',
});

@ObjectType('Project')
export class ProjectType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() createdAt!: Date;
}

@ObjectType('ApiKey', { description: 'A gateway key. The plaintext is never shown again after creation.' })
export class ApiKeyType {
  @Field(() => ID) id!: string;
  @Field(() => ID) projectId!: string;
  @Field() name!: string;
  @Field(() => ApiKeyRoleEnum) role!: ApiKeyRoleEnum;
  @Field({ description: 'The first characters of the key, to tell keys apart.' }) prefix!: string;
  @Field(() => Int, { nullable: true }) rpmLimit!: number | null;
  @Field(() => Int, { nullable: true }) tpmLimit!: number | null;
  @Field() createdAt!: Date;
  @Field(() => Date, { nullable: true }) revokedAt!: Date | null;
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
  @Field(() => ApiKeyRoleEnum, { defaultValue: ApiKeyRoleEnum.CLIENT }) role!: ApiKeyRoleEnum;
  @Field(() => Int, { nullable: true, description: 'Requests per minute (none: unlimited).' }) rpmLimit?:
    number | null;
  @Field(() => Int, { nullable: true, description: 'Tokens per minute (none: unlimited).' }) tpmLimit?:
    number | null;
}
