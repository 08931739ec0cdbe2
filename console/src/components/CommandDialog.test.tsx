import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CombinedError } from '@urql/core';
import { GraphQLError } from 'graphql';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { CommandDialog, nonBlank, staleText, type CommandOutcome } from './CommandDialog';

/** The GraphQL error the gateway sends when a command's `If-Match` version is stale. */
function staleError(currentVersion: number): CombinedError {
  return new CombinedError({
    graphQLErrors: [
      new GraphQLError('version conflict', {
        extensions: { status: 409, type: '/problems/conflict', title: 'Conflict', detail: 'the user is at another version', currentVersion },
      }),
    ],
  });
}

/** The dialog over a page whose shown name refreshes when it hears of a newer version. */
function Harness({ run, onStale }: { run: (name: string) => Promise<CommandOutcome>; onStale: (version: number) => void }) {
  const [shown, setShown] = useState('Ann');
  return (
    <CommandDialog
      open
      onClose={() => undefined}
      title="Rename user"
      submitLabel="Rename"
      label="Name"
      field="name"
      initialText={shown}
      parse={nonBlank('a name')}
      run={run}
      onStale={(version) => {
        onStale(version);
        setShown('Changed elsewhere');
      }}
    />
  );
}

describe('CommandDialog', () => {
  it('says the aggregate moved on, keeps what was typed and lets the page refresh behind it', async () => {
    const run = vi.fn(async () => ({ version: null, error: staleError(3) }));
    const onStale = vi.fn();
    render(<Harness run={run} onStale={onStale} />);
    const user = userEvent.setup();
    const name = screen.getByRole('textbox', { name: /^Name/ });
    await user.clear(name);
    await user.type(name, 'Mine');
    await user.click(screen.getByRole('button', { name: 'Rename' }));

    expect(await screen.findByText(staleText(3))).toBeInTheDocument();
    expect(onStale).toHaveBeenCalledWith(3);
    expect(run).toHaveBeenCalledWith('Mine');
    expect(screen.getByRole('textbox', { name: /^Name/ })).toHaveValue('Mine');
    expect(screen.getByRole('textbox', { name: /^Name/ })).toHaveAttribute('aria-invalid', 'false');
  });

  it('closes and reports the new version when the command is done', async () => {
    const onClose = vi.fn();
    const onDone = vi.fn();
    render(
      <CommandDialog
        open
        onClose={onClose}
        title="Rename user"
        submitLabel="Rename"
        label="Name"
        field="name"
        initialText="Ann"
        parse={nonBlank('a name')}
        run={async () => ({ version: 4, error: undefined })}
        onDone={onDone}
      />,
    );
    await userEvent.setup().click(screen.getByRole('button', { name: 'Rename' }));
    expect(onDone).toHaveBeenCalledWith(4);
    expect(onClose).toHaveBeenCalled();
  });
});
