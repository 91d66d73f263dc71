import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';
import { Tier } from './model.entity';
import { ProviderKind, SimulatedWire } from './provider.entity';

registerEnumType(ProviderKind, {
  name: 'ProviderKind',
  valuesConfig: {
    SIMULATED: { description: 'The built-in offline simulator (no key, no network).' },
    OPENAI_COMPATIBLE: {
      description: 'An OpenAI-compatible API: POST {baseUrl}/chat/completions, /embeddings.',
    },
    ANTHROPIC: {
      description:
        "Anthropic's Messages API: POST {baseUrl}/v1/messages with x-api-key and anthropic-version.",
    },
  },
});
registerEnumType(SimulatedWire, {
  name: 'SimulatedWire',
  description: "The wire the simulator speaks: OpenAI's chat, or Anthropic's Messages with prompt caching.",
});
registerEnumType(Tier, { name: 'Tier', description: 'Request complexity tier used by the router.' });

@ObjectType('Simulation')
export class SimulationType {
  @Field(() => Int) latencyMs!: number;
  @Field(() => Float) failureRate!: number;
  @Field(() => Int) chunkDelayMs!: number;
  @Field(() => SimulatedWire) wire!: SimulatedWire;
}

@ObjectType('Provider', {
  description: 'An upstream. Its keys are never returned, only where they come from.',
})
export class ProviderType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field(() => ProviderKind) kind!: ProviderKind;
  @Field(() => String, { nullable: true }) baseUrl!: string | null;
  @Field(() => [String], {
    description: 'env:NAME for keys read from the environment, "sealed #n" for keys encrypted at rest.',
  })
  keySources!: string[];
  @Field(() => Int) requestsPerMinute!: number;
  @Field(() => Int) maxConcurrency!: number;
  @Field(() => Int) timeoutMs!: number;
  @Field(() => SimulationType, { nullable: true }) simulation!: SimulationType | null;
  @Field(() => String, {
    nullable: true,
    description:
      'The configuration file that owns this provider (edits through the API are refused); null: the API does.',
  })
  managedBy!: string | null;
}

@ObjectType('Model')
export class ModelType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() upstreamName!: string;
  @Field() provider!: string;
  @Field(() => USDScalar, { description: 'USD per million prompt tokens.' }) promptPrice!: Pico;
  @Field(() => USDScalar, { description: 'USD per million completion tokens.' }) completionPrice!: Pico;
  @Field(() => USDScalar, {
    nullable: true,
    description:
      "USD per million prompt tokens read from the provider's cache; null: charged at promptPrice, flagged.",
  })
  cachedPromptPrice!: Pico | null;
  @Field(() => USDScalar, {
    nullable: true,
    description:
      "USD per million prompt tokens written to the provider's cache; null: charged at promptPrice, flagged.",
  })
  cacheWritePrice!: Pico | null;
  @Field(() => Float, {
    nullable: true,
    description:
      'How much more the upstream may count than our tokenizer on prompts (0.35 = 35%); null: the default for its family (5% for OpenAI models, 35% for others, 0 on the simulated provider).',
  })
  promptMargin!: number | null;
  @Field(() => Float, {
    description: 'The margin in force: the configured one, widened when the upstream was seen counting more.',
  })
  effectivePromptMargin!: number;
  @Field(() => [Tier]) tiers!: Tier[];
  @Field() enabled!: boolean;
  @Field(() => String, {
    nullable: true,
    description:
      'The configuration file that owns this model (edits through the API are refused); null: the API does.',
  })
  managedBy!: string | null;
}

@InputType()
export class SimulationInput {
  @Field(() => Int, { nullable: true }) latencyMs?: number;
  @Field(() => Float, { nullable: true }) failureRate?: number;
  @Field(() => Int, { nullable: true }) chunkDelayMs?: number;
  @Field(() => SimulatedWire, { nullable: true, description: 'OPENAI (default) or ANTHROPIC.' })
  wire?: SimulatedWire;
}

@InputType()
export class CreateProviderInput {
  @Field() name!: string;
  @Field(() => ProviderKind) kind!: ProviderKind;
  @Field(() => String, { nullable: true }) baseUrl?: string | null;
  @Field(() => [String], {
    nullable: true,
    description: 'Each "env:NAME" (read from the environment) or a literal key (encrypted at rest).',
  })
  upstreamKeys?: string[];
  @Field(() => Int, { nullable: true }) requestsPerMinute?: number;
  @Field(() => Int, { nullable: true }) maxConcurrency?: number;
  @Field(() => Int, { nullable: true }) timeoutMs?: number;
  @Field(() => SimulationInput, { nullable: true }) simulation?: SimulationInput | null;
}

@InputType()
export class ModelInput {
  @Field() name!: string;
  @Field({ description: 'Provider name.' }) provider!: string;
  @Field(() => String, { nullable: true }) upstreamName?: string | null;
  @Field({ description: 'USD per million prompt tokens, e.g. "0.14".' }) promptPrice!: string;
  @Field({ description: 'USD per million completion tokens, e.g. "0.42".' }) completionPrice!: string;
  @Field(() => String, {
    nullable: true,
    description:
      'USD per million prompt tokens read from the cache, e.g. "0.50"; omit: none (cache reads charged at promptPrice, flagged).',
  })
  cachedPromptPrice?: string | null;
  @Field(() => String, {
    nullable: true,
    description:
      'USD per million prompt tokens written to the cache, e.g. "3.75"; omit: none (charged at promptPrice, flagged).',
  })
  cacheWritePrice?: string | null;
  @Field(() => Float, {
    nullable: true,
    description:
      'Margin on the prompt estimate, 0 to 10 (0.35 = 35%); omit for the default of the model family.',
  })
  promptMargin?: number | null;
  @Field(() => [Tier], { nullable: true }) tiers?: Tier[];
  @Field(() => Boolean, { nullable: true }) enabled?: boolean;
}
