// Keeps an order page current while the order's saga decides it, without a reload. Operators
// follow the orders topic for the order's key and read the order again on each of its
// records, at least at that record's version; customers, who may not tail topics, ask again
// every second. Either stops once the order is decided.
import { useEffect, useRef, useState } from 'react';
import { useQuery, useSubscription } from 'urql';
import { useInterval } from '../../lib/useInterval';
import { OrderTailSubscription, OrdersTopicQuery } from './queries';

export type LiveMode = 'idle' | 'tail' | 'polling';

/** A slow safety net under the tail, for a record that arrives before the subscription. */
const TAIL_SAFETY_MS = 5000;
const POLL_MS = 1000;

export function useLiveOrder({
  orderId,
  live,
  canTail,
  refresh,
}: {
  orderId: string;
  /** The order is still PENDING (or not yet visible). */
  live: boolean;
  canTail: boolean;
  /** Reads the order again, at least at `minVersion` when given. */
  refresh: (minVersion?: number) => void;
}): LiveMode {
  const [tailFailed, setTailFailed] = useState(false);
  // The orders topic's name is the deployment's (the gateway knows it).
  const [{ data: topics, error: topicsError }] = useQuery({ query: OrdersTopicQuery, pause: !canTail });
  const topic = topics?.contextTopics.orders;
  const tailing = live && canTail && !tailFailed && !topicsError;
  const [{ data, error }] = useSubscription({
    query: OrderTailSubscription,
    variables: { topic: topic ?? '', key: orderId },
    pause: !tailing || topic === undefined,
  });
  const latest = useRef(refresh);
  latest.current = refresh;

  useEffect(() => {
    if (error) setTailFailed(true);
  }, [error]);

  const record = data?.tail;
  useEffect(() => {
    if (!record) return;
    const envelope = record.envelope;
    latest.current(envelope && envelope.aggregateId === orderId ? envelope.sequence : undefined);
  }, [record, orderId]);

  useInterval(() => latest.current(), live ? (tailing ? TAIL_SAFETY_MS : POLL_MS) : null);

  if (!live) return 'idle';
  return tailing ? 'tail' : 'polling';
}
