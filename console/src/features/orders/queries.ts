import { graphql } from '../../gql';

export const OrdersQuery = graphql(`
  query Orders($userId: UUID, $status: OrderStatus, $first: Int, $after: String) {
    orders(userId: $userId, status: $status, first: $first, after: $after) {
      items {
        id
        userId
        status
        totalCents
        currency
        placedAt
        updatedAt
      }
      nextCursor
    }
  }
`);

export const SagaFields = graphql(`
  fragment SagaFields on Saga {
    id
    kind
    orderId
    userId
    amountCents
    state
    terminal
    reason
    attempts
    lastError
    deadlineAt
    nextAttemptAt
    startedAt
    updatedAt
    finishedAt
    steps {
      step
      startedAt
      finishedAt
      attempts
      outcome
      detail
    }
  }
`);

export const OrderDetailQuery = graphql(`
  query OrderDetail($id: UUID!, $minVersion: Int) {
    order(id: $id, minVersion: $minVersion) {
      id
      userId
      status
      items {
        sku
        quantity
        unitPriceCents
      }
      totalCents
      currency
      rejectionReason
      cancellationReason
      version
      placedAt
      updatedAt
      approvedAt
      rejectedAt
      cancelledAt
      user {
        id
        name
        email
      }
      events {
        ...StoredEventFields
      }
      sagas {
        ...SagaFields
      }
    }
  }
`);

export const OrderStateAtQuery = graphql(`
  query OrderStateAt($id: UUID!, $version: Int!) {
    order(id: $id) {
      id
      stateAt(version: $version) {
        version
        state
      }
    }
  }
`);

export const OrderTailSubscription = graphql(`
  subscription OrderTail($topic: String!, $key: String!) {
    tail(topic: $topic, key: $key) {
      partition
      offset
      envelope {
        aggregateId
        sequence
        eventType
      }
    }
  }
`);

export const OrdersTopicQuery = graphql(`
  query OrdersTopic {
    contextTopics {
      orders
    }
  }
`);

export const PlaceOrderMutation = graphql(`
  mutation PlaceOrder($input: PlaceOrderInput!, $idempotencyKey: String) {
    placeOrder(input: $input, idempotencyKey: $idempotencyKey) {
      id
      version
    }
  }
`);

export const CancelOrderMutation = graphql(`
  mutation CancelOrder($id: UUID!, $reason: String!, $expectedVersion: Int) {
    cancelOrder(id: $id, reason: $reason, expectedVersion: $expectedVersion) {
      id
      version
    }
  }
`);
