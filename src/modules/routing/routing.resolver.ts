import { Arg, Authorized, Query, Resolver } from 'type-graphql';
import { CurrentKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import type { RoutingReportService } from './routing-report.service';
import { RoutingReportType } from './routing.types';

@Resolver()
export class RoutingResolver {
  constructor(private readonly reports: RoutingReportService) {}

  @Authorized(Role.PROJECT)
  @Query(() => RoutingReportType, {
    description:
      'Requests, exact cost and latency per tier:model over [from, to), and the savings against a baseline model priced on the same tokens.',
  })
  routingReport(
    @CurrentKey() who: KeyPrincipal,
    @Arg('from') from: Date,
    @Arg('to') to: Date,
    @Arg('baselineModel', () => String, { defaultValue: 'gpt-4.1' }) baselineModel: string,
  ): Promise<RoutingReportType> {
    return this.reports.report(who.projectId, from, to, baselineModel);
  }
}
