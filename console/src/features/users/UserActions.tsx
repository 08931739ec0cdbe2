import { Stack } from '@mui/material';
import { useMutation } from 'urql';
import { CommandButton, nonBlank, outcomeOf, reasonField, type Parsed } from '../../components/CommandDialog';
import { centsToEuroText, parseEurosToCents } from '../../lib/money';
import { ChangeCreditLimitMutation, ChangeEmailMutation, DeactivateUserMutation, RenameUserMutation } from './queries';

export interface UserActionsProps {
  user: { id: string; name: string; email: string; creditLimitCents: number; status: string };
  /** Called with the user's new version after a command succeeded. */
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
  const common = { disabled: user.status !== 'ACTIVE', onDone };
  const id = user.id;

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
        run={async (name) => outcomeOf(await rename({ id, name }), (data) => data.renameUser)}
      />
      <CommandButton
        {...common}
        button="Change email"
        label="Email"
        field="email"
        initialText={user.email}
        parse={nonBlank('an email address')}
        run={async (email) => outcomeOf(await changeEmail({ id, email }), (data) => data.changeEmail)}
      />
      <CommandButton
        {...common}
        button="Change credit limit"
        label="Credit limit (EUR)"
        field="creditLimitCents"
        initialText={centsToEuroText(user.creditLimitCents)}
        parse={euros}
        run={async (creditLimitCents) =>
          outcomeOf(await changeCreditLimit({ id, creditLimitCents }), (data) => data.changeCreditLimit)
        }
      />
      <CommandButton
        {...common}
        {...reasonField}
        button="Deactivate"
        title="Deactivate user"
        submitLabel="Deactivate"
        description="A deactivated user can no longer reserve credit, so their new orders are rejected."
        run={async (reason) => outcomeOf(await deactivate({ id, reason }), (data) => data.deactivateUser)}
      />
    </Stack>
  );
}
