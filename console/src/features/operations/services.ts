import type { ReadService } from '../../gql/graphql';

export const READ_SERVICES: readonly ReadService[] = ['USERS_QUERY', 'ORDERS_QUERY', 'SAGA_ORCHESTRATOR'];

const NAMES: Record<ReadService, string> = {
  USERS_QUERY: 'users-query',
  ORDERS_QUERY: 'orders-query',
  SAGA_ORCHESTRATOR: 'saga-orchestrator',
};

/** The service as its binary is named. */
export function serviceName(service: ReadService): string {
  return NAMES[service];
}
