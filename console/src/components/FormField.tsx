import { TextField, type TextFieldProps } from '@mui/material';

export type FormFieldProps = Omit<TextFieldProps, 'error' | 'helperText'> & {
  /** What is wrong with the value (the field's own check or the service's); shown instead of the hint. */
  problem?: string | null | undefined;
  /** Said under the field while nothing is wrong (a space keeps the layout still). */
  hint?: string;
};

/** A form's text field with its problem, or its hint, said under it and tied to it. */
export function FormField({ problem, hint = ' ', ...field }: FormFieldProps) {
  return <TextField {...field} error={Boolean(problem)} helperText={problem || hint} />;
}
