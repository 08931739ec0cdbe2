import { graphql } from '../../gql';

export const HealthSubscription = graphql(`
  subscription Health {
    health {
      checkedAt
      light
      components {
        name
        kind
        light
        detail
        latencyMs
      }
      pipelines {
        context
        topic
        eventStoreHead
        eventStoreHeadAt
        outboxBacklog
        outboxOldestAgeSeconds
        outboxSetAside
        endOffset
        light
        consumers {
          service
          group
          checkpoint
          lag
          parkedEvents
          light
        }
      }
      history {
        at
        commandsPerSecond
        consumerLag
        outboxBacklog
      }
    }
  }
`);
