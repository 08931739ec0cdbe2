import { useId, type FormEvent, type ReactNode } from 'react';
import { Button, Dialog, DialogActions, DialogContent, DialogTitle, Stack } from '@mui/material';
import { FormProblems } from './ErrorAlert';

export interface FormDialogProps {
  open: boolean;
  title: string;
  submitLabel: string;
  closeLabel?: string;
  submitting: boolean;
  /** Errors that belong to no field. */
  problems?: string[];
  onClose: () => void;
  onSubmit: () => void;
  children?: ReactNode;
  destructive?: boolean;
}

/** A small dialog holding a form: one command with its fields and its errors. */
export function FormDialog({
  open,
  title,
  submitLabel,
  closeLabel = 'Close',
  submitting,
  problems = [],
  onClose,
  onSubmit,
  children,
  destructive = false,
}: FormDialogProps) {
  const titleId = useId();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (!submitting) onSubmit();
  };
  return (
    <Dialog open={open} onClose={submitting ? undefined : onClose} aria-labelledby={titleId} fullWidth maxWidth="sm">
      <form noValidate onSubmit={submit}>
        <DialogTitle id={titleId}>{title}</DialogTitle>
        <DialogContent>
          <Stack spacing={2} sx={{ pt: 1 }}>
            <FormProblems messages={problems} />
            {children}
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={submitting}>
            {closeLabel}
          </Button>
          <Button type="submit" variant="contained" color={destructive ? 'error' : 'primary'} disabled={submitting}>
            {submitLabel}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
