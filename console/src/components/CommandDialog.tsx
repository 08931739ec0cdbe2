import { useState, type ReactNode } from 'react';
import { Button, Typography } from '@mui/material';
import type { CombinedError, OperationResult } from 'urql';
import { formErrorsFrom, staleVersion } from '../api/problem';
import { FormDialog } from './FormDialog';
import { FormField } from './FormField';

/** What a command answered: the aggregate's new version (if it has one), or why not. */
export interface CommandOutcome {
  version: number | null;
  error: CombinedError | undefined;
}

export type Parsed<T> = { value: T } | { error: string };

export interface CommandDialogProps<T> {
  open: boolean;
  onClose: () => void;
  title: string;
  submitLabel: string;
  /** The button that closes without acting (default "Close"). */
  closeLabel?: string;
  /** The field's label, e.g. "Reason". */
  label: string;
  /** The command's field as the service names it in camelCase (`creditLimitCents`), for its errors. */
  field: string;
  initialText?: string;
  multiline?: boolean;
  description?: ReactNode;
  destructive?: boolean;
  parse: (text: string) => Parsed<T>;
  run: (value: T) => Promise<CommandOutcome>;
  /** Called after success with the aggregate's new version, when the command returns one. */
  onDone?: (version: number) => void;
  /**
   * Called when the command was sent at a version the aggregate has moved past (409), with
   * the version it is at now, so the page behind the dialog can show what changed.
   */
  onStale?: (currentVersion: number) => void;
}

/** What the dialog says when its command was refused because the aggregate moved on. */
export function staleText(currentVersion: number): string {
  return (
    `Not done: this changed since the page showed it and is now at version ${currentVersion}. ` +
    'The page now shows the change; submit again if yours still applies.'
  );
}

/** A one-field command in a dialog, with the service's validation errors on that field. */
export function CommandDialog<T>({
  open,
  onClose,
  title,
  submitLabel,
  closeLabel,
  label,
  field,
  initialText = '',
  multiline = false,
  description,
  destructive = false,
  parse,
  run,
  onDone,
  onStale,
}: CommandDialogProps<T>) {
  const [text, setText] = useState(initialText);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [submitting, setSubmitting] = useState(false);
  // Starts afresh each time it opens, and only then: the page behind may refresh (after a
  // refused stale command) while the person reads why.
  const [wasOpen, setWasOpen] = useState(open);
  if (open !== wasOpen) {
    setWasOpen(open);
    if (open) {
      setText(initialText);
      setFieldError(null);
      setProblems([]);
    }
  }

  const submit = async () => {
    const parsed = parse(text);
    if ('error' in parsed) {
      setFieldError(parsed.error);
      return;
    }
    setSubmitting(true);
    try {
      const outcome = await run(parsed.value);
      if (!outcome.error) {
        if (outcome.version !== null) onDone?.(outcome.version);
        onClose();
        return;
      }
      const current = staleVersion(outcome.error);
      if (current !== null) {
        onStale?.(current);
        setFieldError(null);
        setProblems([staleText(current)]);
        return;
      }
      const errors = formErrorsFrom(outcome.error, [field]);
      setFieldError(errors.fields[field] ?? null);
      setProblems(errors.general);
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <FormDialog
      open={open}
      title={title}
      submitLabel={submitLabel}
      closeLabel={closeLabel}
      submitting={submitting}
      problems={problems}
      onClose={onClose}
      onSubmit={() => void submit()}
      destructive={destructive}
    >
      {description && <Typography variant="body2">{description}</Typography>}
      <FormField
        label={label}
        autoFocus
        required
        multiline={multiline}
        minRows={multiline ? 2 : undefined}
        value={text}
        onChange={(event) => {
          setText(event.target.value);
          setFieldError(null);
        }}
        problem={fieldError}
      />
    </FormDialog>
  );
}

/** Text that must not be blank. */
export function nonBlank(what: string): (text: string) => Parsed<string> {
  return (text) => (text.trim() === '' ? { error: `Enter ${what}.` } : { value: text.trim() });
}

/** What a command's mutation answered, as the dialog takes it: `pick` finds the new version. */
export function outcomeOf<Data>(
  result: OperationResult<Data>,
  pick: (data: Data) => { version: number } | null | undefined,
): CommandOutcome {
  return { version: (result.data ? pick(result.data)?.version : null) ?? null, error: result.error };
}

/** A command that takes a reason and has consequences (deactivate, cancel, skip). */
export const reasonField = {
  label: 'Reason',
  field: 'reason',
  multiline: true,
  destructive: true,
  parse: nonBlank('a reason'),
} as const;

export type CommandButtonProps<T> = Omit<CommandDialogProps<T>, 'open' | 'onClose' | 'title' | 'submitLabel'> & {
  /** The button's text, and the dialog's title and submit button unless they are given. */
  button: string;
  title?: string;
  submitLabel?: string;
  disabled?: boolean;
};

/** A button that opens its command's dialog. */
export function CommandButton<T>({ button, title = button, submitLabel = button, disabled = false, ...dialog }: CommandButtonProps<T>) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button variant="outlined" color={dialog.destructive ? 'error' : 'primary'} onClick={() => setOpen(true)} disabled={disabled}>
        {button}
      </Button>
      <CommandDialog {...dialog} title={title} submitLabel={submitLabel} open={open} onClose={() => setOpen(false)} />
    </>
  );
}
