import { TextField } from '@mui/material';

export interface ChoiceFieldProps<T extends string> {
  label: string;
  /** The choice, or `''` for any. */
  value: T | '';
  choices: readonly T[];
  /** What the empty choice is called; `null` offers no empty choice. */
  anyLabel?: string | null;
  onChange: (value: T | '') => void;
  minWidth?: number;
  maxWidth?: number;
}

/** A filter's native select: one of `choices`, or any. */
export function ChoiceField<T extends string>({
  label,
  value,
  choices,
  anyLabel = 'Any',
  onChange,
  minWidth = 160,
  maxWidth,
}: ChoiceFieldProps<T>) {
  return (
    <TextField
      select
      label={label}
      size="small"
      value={value}
      onChange={(event) => onChange(choices.find((choice) => choice === event.target.value) ?? '')}
      slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
      sx={{ minWidth, maxWidth }}
    >
      {anyLabel !== null && <option value="">{anyLabel}</option>}
      {choices.map((choice) => (
        <option key={choice} value={choice}>
          {choice}
        </option>
      ))}
    </TextField>
  );
}
