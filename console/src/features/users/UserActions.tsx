import { useState } from 'react';
import { Button, Stack } from '@mui/material';
import { useMutation } from 'urql';
import { CommandDialog, nonBlank, type Parsed } from '../../components/CommandDialog';
import { centsToEuroText, parseEurosToCents } from '../../lib/money';
import { ChangeCreditLimitMutation, ChangeEmailMutation, DeactivateUserMutation, RenameUserMutation } from './queries';

type Action = 'rename' | 'email' | 'credit' | 'deactivate';

export interface UserActionsProps {
  user: { id: string; name: string; email: string; creditLimitCents: number; status: string };
  /** Called with the user's new version after a command succeeded. */
  onDone: (version: number) => void;
}

const euros = (text: string): Parsed<number> => {
  const cents = parseEurosToCents(text);
  return cents === null ? { error: 'Enter an amount in euros, such as 500 or 12.50.' } : { value: cents };
};

/** The commands a user accepts, each in its own small dialog. */
export function UserActions({ user, onDone }: UserActionsProps) {
  const [open, setOpen] = useState<Action | null>(null);
  const [, rename] = useMutation(RenameUserMutation);
  const [, changeEmail] = useMutation(ChangeEmailMutation);
  const [, changeCreditLimit] = useMutation(ChangeCreditLimitMutation);
  const [, deactivate] = useMutation(DeactivateUserMutation);
  const close = () => setOpen(null);
  const active = user.status === 'ACTIVE';

  return (
    <>
      <Stack direction="row" spacing={1} sx={{ flexWrap: 'wrap', gap: 1 }} useFlexGap>
        <Button variant="outlined" onClick={() => setOpen('rename')} disabled={!active}>
          Rename
        </Button>
        <Button variant="outlined" onClick={() => setOpen('email')} disabled={!active}>
          Change email
        </Button>
        <Button variant="outlined" onClick={() => setOpen('credit')} disabled={!active}>
          Change credit limit
        </Button>
        <Button variant="outlined" color="error" onClick={() => setOpen('deactivate')} disabled={!active}>
          Deactivate
        </Button>
      </Stack>
      <CommandDialog
        open={open === 'rename'}
        onClose={close}
        title="Rename user"
        submitLabel="Rename"
        label="Name"
        field="name"
        initialText={user.name}
        parse={nonBlank('a name')}
        run={async (name) => {
          const result = await rename({ id: user.id, name });
          return { version: result.data?.renameUser.version ?? null, error: result.error };
        }}
        onDone={onDone}
      />
      <CommandDialog
        open={open === 'email'}
        onClose={close}
        title="Change email"
        submitLabel="Change email"
        label="Email"
        field="email"
        initialText={user.email}
        parse={nonBlank('an email address')}
        run={async (email) => {
          const result = await changeEmail({ id: user.id, email });
          return { version: result.data?.changeEmail.version ?? null, error: result.error };
        }}
        onDone={onDone}
      />
      <CommandDialog
        open={open === 'credit'}
        onClose={close}
        title="Change credit limit"
        submitLabel="Change credit limit"
        label="Credit limit (EUR)"
        field="creditLimitCents"
        initialText={centsToEuroText(user.creditLimitCents)}
        parse={euros}
        run={async (creditLimitCents) => {
          const result = await changeCreditLimit({ id: user.id, creditLimitCents });
          return { version: result.data?.changeCreditLimit.version ?? null, error: result.error };
        }}
        onDone={onDone}
      />
      <CommandDialog
        open={open === 'deactivate'}
        onClose={close}
        title="Deactivate user"
        submitLabel="Deactivate"
        label="Reason"
        field="reason"
        multiline
        destructive
        description="A deactivated user can no longer reserve credit, so their new orders are rejected."
        parse={nonBlank('a reason')}
        run={async (reason) => {
          const result = await deactivate({ id: user.id, reason });
          return { version: result.data?.deactivateUser.version ?? null, error: result.error };
        }}
        onDone={onDone}
      />
    </>
  );
}
