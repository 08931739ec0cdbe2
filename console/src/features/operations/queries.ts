import { graphql } from '../../gql';

export const RebuildStatusFields = graphql(`
  fragment RebuildStatusFields on RebuildStatus {
    state
    phase
    applied
    total
    startedAt
    finishedAt
    error
  }
`);

export const ProjectionsQuery = graphql(`
  query Projections {
    projections {
      service
      reachable
      status
      rebuild {
        ...RebuildStatusFields
      }
    }
  }
`);

export const StartRebuildMutation = graphql(`
  mutation StartRebuild($service: ReadService!) {
    startRebuild(service: $service) {
      ...RebuildStatusFields
    }
  }
`);

export const RebuildSubscription = graphql(`
  subscription Rebuild($service: ReadService!) {
    rebuild(service: $service) {
      ...RebuildStatusFields
    }
  }
`);

export const ParkedEventsQuery = graphql(`
  query ParkedEvents($service: ReadService!) {
    parkedEvents(service: $service) {
      id
      aggregateId
      sequence
      reason
      attempts
      status
      topic
      kafkaPartition
      kafkaOffset
      parkedAt
      resolvedAt
      resolvedBy
      resolution
    }
  }
`);

export const RetryParkedMutation = graphql(`
  mutation RetryParked($service: ReadService!, $id: Int!) {
    retryParked(service: $service, id: $id)
  }
`);

export const SkipParkedMutation = graphql(`
  mutation SkipParked($service: ReadService!, $id: Int!, $reason: String!) {
    skipParked(service: $service, id: $id, reason: $reason)
  }
`);

export const SagasQuery = graphql(`
  query Sagas($state: String, $first: Int, $after: String) {
    sagas(state: $state, first: $first, after: $after) {
      items {
        id
        kind
        orderId
        state
        terminal
        attempts
        lastError
        reason
        deadlineAt
        updatedAt
      }
      nextCursor
    }
  }
`);
