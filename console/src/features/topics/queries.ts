import { graphql } from '../../gql';

export const TopicsQuery = graphql(`
  query Topics {
    contextTopics {
      users
      orders
    }
    topics {
      topics {
        name
        messages
        partitions {
          partition
          low
          high
        }
      }
      groups {
        group
        topic
        lag
        partitions {
          partition
          committed
          high
          lag
        }
      }
    }
  }
`);

export const TailRecordFields = graphql(`
  fragment TailRecordFields on TailRecord {
    topic
    partition
    offset
    key
    timestamp
    headers
    error
    rawHex
    envelope {
      eventId
      aggregateType
      aggregateId
      sequence
      eventType
      schemaVersion
      recordedAt
      correlationId
      causationId
      actor
      payload
    }
  }
`);

export const TailSubscription = graphql(`
  subscription Tail($topic: String!, $key: String, $eventType: String, $fromEnd: Int) {
    tail(topic: $topic, key: $key, eventType: $eventType, fromEnd: $fromEnd) {
      ...TailRecordFields
    }
  }
`);
