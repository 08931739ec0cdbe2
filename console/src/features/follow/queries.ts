import { graphql } from '../../gql';

export const FollowSubscription = graphql(`
  subscription Follow($correlationId: String!) {
    follow(correlationId: $correlationId) {
      correlationId
      done
      stuckAt
      tookMs
      events {
        context
        aggregateType
        aggregateId
        sequence
        eventId
        eventType
        recordedAt
        actor
        hops {
          name
          state
          at
          afterMs
          detail
        }
      }
    }
  }
`);
