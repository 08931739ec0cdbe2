// A stand-in for the gateway at the client's port: each operation answers what the test says,
// and the test can see what was sent.
import { Client, CombinedError, type GraphQLRequest, type OperationResult, makeOperation } from '@urql/core';
import { GraphQLError } from 'graphql';
import { fromValue, never, type Source } from 'wonka';

export interface FakeAnswer {
  data?: unknown;
  error?: CombinedError;
}

export interface FakeClient {
  client: Client;
  /** Variables of every mutation sent, in order. */
  mutations: Array<Record<string, unknown>>;
}

function answer(request: GraphQLRequest, kind: 'query' | 'mutation' | 'subscription', reply: FakeAnswer): Source<OperationResult> {
  const operation = makeOperation(kind, request, {
    url: '/graphql',
    requestPolicy: 'network-only',
  });
  return fromValue({ operation, data: reply.data, error: reply.error, stale: false, hasNext: false });
}

export function fakeClient({ mutation }: { mutation: (variables: Record<string, unknown>) => FakeAnswer }): FakeClient {
  const mutations: Array<Record<string, unknown>> = [];
  const port = {
    executeQuery: (): Source<OperationResult> => never,
    executeSubscription: (): Source<OperationResult> => never,
    executeMutation: (request: GraphQLRequest): Source<OperationResult> => {
      const variables = (request.variables ?? {}) as Record<string, unknown>;
      mutations.push(variables);
      return answer(request, 'mutation', mutation(variables));
    },
  };
  // Only the three execute methods are used by the hooks under test.
  return { client: port as unknown as Client, mutations };
}

/** The GraphQL error the gateway sends for a service's 422 problem. */
export function validationError(fields: Array<{ field: string; code: string; message: string }>): CombinedError {
  return new CombinedError({
    graphQLErrors: [
      new GraphQLError('validation failed', {
        extensions: { status: 422, type: '/problems/validation', title: 'Invalid request', detail: 'Some fields are invalid', fields },
      }),
    ],
  });
}
