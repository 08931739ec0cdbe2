// The one GraphQL client of the console: queries and mutations over HTTP POST to /graphql,
// subscriptions over the graphql-transport-ws protocol at /graphql/ws, both carrying the
// signed-in bearer token. It reports whether the gateway answers (the banner) and a refused
// token (back to sign-in).
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from 'urql';
import { createClient as createWsClient } from 'graphql-ws';
import { connection } from './connection';
import { isUnauthenticated, networkMessage } from './problem';

export interface ApiClientOptions {
  token: string;
  /** Called when the gateway refuses the token. */
  onUnauthenticated: () => void;
  /** Where the console is served from; the API is on the same origin. */
  origin?: string;
}

export interface ApiClient {
  client: Client;
  /** Closes the WebSocket; the client is not used afterwards. */
  dispose: () => void;
}

export const GRAPHQL_PATH = '/graphql';
export const GRAPHQL_WS_PATH = '/graphql/ws';

/** `http://host:5173` → `ws://host:5173/graphql/ws` (`wss:` under https). */
export function webSocketUrl(origin: string): string {
  const url = new URL(GRAPHQL_WS_PATH, origin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

function closeReason(event: unknown): string {
  if (event instanceof CloseEvent) {
    return event.reason ? `${event.reason} (${event.code})` : `connection closed (${event.code})`;
  }
  return event instanceof Error ? event.message : 'connection lost';
}

export function createApiClient({ token, onUnauthenticated, origin = window.location.origin }: ApiClientOptions): ApiClient {
  const authorization = `Bearer ${token}`;
  const ws = createWsClient({
    url: webSocketUrl(origin),
    connectionParams: { Authorization: authorization },
    lazy: true,
    retryAttempts: 8,
    shouldRetry: () => true,
    on: {
      connected: () => connection.report(null),
      closed: (event) => {
        // 1000 is a normal close (no subscription left); 4401/4403 a refused token.
        if (event instanceof CloseEvent && (event.code === 4401 || event.code === 4403)) {
          onUnauthenticated();
        } else if (!(event instanceof CloseEvent && event.code === 1000)) {
          connection.report(`live updates interrupted: ${closeReason(event)}`);
        }
      },
    },
  });

  const client = new Client({
    url: new URL(GRAPHQL_PATH, origin).toString(),
    // The gateway takes POST only (and GET would put operations in access logs).
    preferGetMethod: false,
    fetchOptions: { headers: { Authorization: authorization } },
    requestPolicy: 'cache-and-network',
    exchanges: [
      mapExchange({
        onResult(result) {
          if (!result.error?.networkError) connection.report(null);
        },
        onError(error) {
          if (isUnauthenticated(error)) {
            onUnauthenticated();
          } else if (error.networkError) {
            connection.report(networkMessage(error.networkError));
          }
        },
      }),
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const operation = { ...request, query: request.query ?? '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(operation, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });

  return { client, dispose: () => void ws.dispose() };
}
