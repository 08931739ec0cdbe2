import { useState } from 'react';
import { useQuery } from 'urql';
import { TimeTravel } from '../../components/TimeTravel';
import { OrderStateAtQuery } from './queries';

/** The order as it was after any of its events. */
export function OrderTimeTravel({ id, version }: { id: string; version: number }) {
  const [chosen, setChosen] = useState<number | null>(null);
  const at = Math.min(chosen ?? version, version);
  const [{ data, fetching, error }] = useQuery({
    query: OrderStateAtQuery,
    variables: { id, version: at },
    pause: version < 1,
  });
  const state = data?.order?.stateAt;
  return (
    <TimeTravel
      maxVersion={version}
      version={at}
      onVersionChange={setChosen}
      state={state?.state}
      stateVersion={state?.version ?? null}
      fetching={fetching}
      error={error}
    />
  );
}
