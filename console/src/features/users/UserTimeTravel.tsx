import { useState } from 'react';
import { useQuery } from 'urql';
import { TimeTravel } from '../../components/TimeTravel';
import { UserStateAtQuery } from './queries';

/** The user as they were after any of their events. */
export function UserTimeTravel({ id, version }: { id: string; version: number }) {
  const [chosen, setChosen] = useState<number | null>(null);
  const at = Math.min(chosen ?? version, version);
  const [{ data, fetching, error }] = useQuery({
    query: UserStateAtQuery,
    variables: { id, version: at },
    pause: version < 1,
  });
  const state = data?.user?.stateAt;
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
