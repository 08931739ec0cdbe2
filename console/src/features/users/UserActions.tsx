import { useState } from 'react';
import { Alert, Button, Stack } from '@mui/material';
import { useClient, useMutation } from 'urql';
import { describeError } from '../../api/problem';
import { CommandButton, nonBlank, outcomeOf, reasonField, type Parsed } from '../../components/CommandDialog';
import { centsToEuroText, parseEurosToCents } from '../../lib/money';
import { useSession } from '../auth/session';
import {
  ChangeCreditLimitMutation,
  ChangeEmailMutation,
  DeactivateUserMutation,
  EraseUserMutation,
  RenameUserMutation,
  UserExportQuery,
} from './queries';

export interface UserActionsProps {
  user: { id: string; name: string; email: string; creditLimitCents: number; status: string; version: number };
  /**
   * Called with the user's version after a command succeeded, or after one was refused because
   * the user had moved past the version shown (each command is sent at that version).
   */
  onDone: (version: number) => void;
}

const euros = (text: string): Parsed<number> => {
  const cents = parseEurosToCents(text);
  return cents === null ? { error: 'Enter an amount in euros, such as 500 or 12.50.' } : { value: cents };
};

/** The commands a user accepts, each in its own small dialog; none once the user is not active. */
export function UserActions({ user, onDone }: UserActionsProps) {
  const [, rename] = useMutation(RenameUserMutation);
  const [, changeEmail] = useMutation(ChangeEmailMutation);
  const [, changeCreditLimit] = useMutation(ChangeCreditLimitMutation);
  const [, deactivate] = useMutation(DeactivateUserMutation);
  const [, erase] = useMutation(EraseUserMutation);
  const session = useSession();
  const client = useClient();
  const [exportError, setExportError] = useState<string | null>(null);
  const common = { disabled: user.status !== 'ACTIVE', onDone, onStale: onDone };
  // Every command runs only if the user is still as the page shows them.
  const { id, version: expectedVersion } = user;

  /** The data subject's export, saved as a JSON file. */
  const download = async () => {
    setExportError(null);
    const result = await client.query(UserExportQuery, { id }, { requestPolicy: 'network-only' }).toPromise();
    if (result.error || !result.data?.userExport) {
      setExportError(result.error ? describeError(result.error) : 'There is no such user to export.');
      return;
    }
    const blob = new Blob([JSON.stringify(result.data.userExport, null, 2)], { type: 'application/json' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `user-${id}-export.json`;
    link.click();
    URL.revokeObjectURL(link.href);
  };

  return (
    <Stack direction="row" spacing={1} sx={{ flexWrap: 'wrap', gap: 1 }} useFlexGap>
      <CommandButton
        {...common}
        button="Rename"
        title="Rename user"
        submitLabel="Rename"
        label="Name"
        field="name"
        initialText={user.name}
        parse={nonBlank('a name')}
        run={async (name) => outcomeOf(await rename({ id, name, expectedVersion }), (data) => data.renameUser)}
      />
      <CommandButton
        {...common}
        button="Change email"
        label="Email"
        field="email"
        initialText={user.email}
        parse={nonBlank('an email address')}
        run={async (email) => outcomeOf(await changeEmail({ id, email, expectedVersion }), (data) => data.changeEmail)}
      />
      <CommandButton
        {...common}
        button="Change credit limit"
        label="Credit limit (EUR)"
        field="creditLimitCents"
        initialText={centsToEuroText(user.creditLimitCents)}
        parse={euros}
        run={async (creditLimitCents) =>
          outcomeOf(await changeCreditLimit({ id, creditLimitCents, expectedVersion }), (data) => data.changeCreditLimit)
        }
      />
      <CommandButton
        {...common}
        {...reasonField}
        button="Deactivate"
        title="Deactivate user"
        submitLabel="Deactivate"
        description="A deactivated user can no longer reserve credit, so their new orders are rejected."
        run={async (reason) => outcomeOf(await deactivate({ id, reason, expectedVersion }), (data) => data.deactivateUser)}
      />
      {session.isStaff && (
        <>
          <Button variant="outlined" onClick={() => void download()}>
            Export data
          </Button>
          <CommandButton
            {...reasonField}
            disabled={user.status === 'ERASED'}
            onDone={onDone}
            onStale={onDone}
            button="Erase"
            title="Erase personal data"
            submitLabel="Erase for good"
            description="The user's key is destroyed: their email and name read as [erased] everywhere, in every copy, for good. The email can be registered again. Give the request's reference as the reason, never personal data."
            run={async (reason) => outcomeOf(await erase({ id, reason, expectedVersion }), (data) => data.eraseUser)}
          />
        </>
      )}
      {exportError && <Alert severity="error">{exportError}</Alert>}
    </Stack>
  );
}
