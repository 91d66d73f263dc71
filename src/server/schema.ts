import type { GraphQLSchema } from 'graphql';
import { buildSchema, type ContainerType, type PubSub } from 'type-graphql';
import { AlertResolver } from '../modules/alerts/alert.resolver';
import { BudgetResolver } from '../modules/budgets/budget.resolver';
import { CompletionResolver } from '../modules/completions/completion.resolver';
import {
  LimiterResolver,
  ModelLimitsResolver,
  ProviderLimitsResolver,
} from '../modules/limits/limiter.resolver';
import { ProjectResolver } from '../modules/projects/project.resolver';
import { ProviderResolver } from '../modules/providers/provider.resolver';
import { RoutingResolver } from '../modules/routing/routing.resolver';
import { UsageResolver } from '../modules/usage/usage.resolver';
import { authChecker } from '../modules/projects/access';
import type { EventBus, BusTopic } from '../modules/events/event-bus';

export const RESOLVERS = [
  ProjectResolver,
  ProviderResolver,
  BudgetResolver,
  UsageResolver,
  AlertResolver,
  CompletionResolver,
  RoutingResolver,
  LimiterResolver,
  ProviderLimitsResolver,
  ModelLimitsResolver,
] as const;

type ResolverClass = (typeof RESOLVERS)[number];

/** Builds the schema; resolvers are the instances the composition root made (plain constructors). */
export function createSchema(
  instances: InstanceType<ResolverClass>[],
  bus: EventBus | null,
): Promise<GraphQLSchema> {
  const byClass = new Map<unknown, unknown>(instances.map((i) => [i.constructor, i]));
  const container: ContainerType = {
    get: (someClass) => {
      const instance = byClass.get(someClass);
      if (!instance)
        throw new Error(`no instance for resolver ${String((someClass as { name?: string }).name)}`);
      return instance;
    },
  };
  const pubSub: PubSub = {
    publish: () => {
      throw new Error('publish through the EventBus');
    },
    subscribe: (topic, id) => {
      if (!bus) throw new Error('no event bus');
      return bus.subscribe(topic as BusTopic, String(id));
    },
  };
  return buildSchema({ resolvers: RESOLVERS, container, pubSub, validate: false, authChecker });
}
