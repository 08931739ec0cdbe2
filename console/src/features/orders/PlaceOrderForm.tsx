import { useId, useState, type FormEvent } from 'react';
import { Box, Button, IconButton, Stack, Typography } from '@mui/material';
import DeleteOutline from '@mui/icons-material/DeleteOutline';
import { useNavigate } from 'react-router-dom';
import { useMutation } from 'urql';
import { formErrorsFrom } from '../../api/problem';
import { FormProblems } from '../../components/ErrorAlert';
import { FormField, type FormFieldProps } from '../../components/FormField';
import { useFocusOnProblem } from '../../lib/useFocusOnProblem';
import { useIdempotencyKey } from '../../lib/idempotency';
import { formatCents, parseEurosToCents } from '../../lib/money';
import { PlaceOrderMutation } from './queries';

interface Line {
  key: number;
  sku: string;
  quantity: string;
  unitPrice: string;
}

const MAX_LINES = 100;
let nextLineKey = 1;
const emptyLine = (): Line => ({ key: nextLineKey++, sku: '', quantity: '1', unitPrice: '' });

type Errors = Record<string, string | undefined>;
type LineField = 'sku' | 'quantity' | 'unitPrice';

/** An item's fields, as typed in. */
const LINE_FIELDS: ReadonlyArray<FormFieldProps & { field: LineField }> = [
  { field: 'sku', label: 'SKU' },
  { field: 'quantity', label: 'Quantity', type: 'number', slotProps: { htmlInput: { min: 1, step: 1 } }, sx: { width: { sm: 120 } } },
  { field: 'unitPrice', label: 'Unit price (EUR)', slotProps: { htmlInput: { inputMode: 'decimal' } }, sx: { width: { sm: 160 } } },
];

function lineFields(index: number): Record<LineField, string> {
  return { sku: `items.${index}.sku`, quantity: `items.${index}.quantity`, unitPrice: `items.${index}.unitPriceCents` };
}

/** Validates the lines as typed; the service checks them again and has the last word. */
function checkLines(lines: Line[]): { errors: Errors; items: Array<{ sku: string; quantity: number; unitPriceCents: number }> } {
  const errors: Errors = {};
  const items = lines.map((line, index) => {
    const names = lineFields(index);
    const quantity = /^\d+$/.test(line.quantity.trim()) ? Number(line.quantity.trim()) : NaN;
    const unitPriceCents = parseEurosToCents(line.unitPrice);
    if (line.sku.trim() === '') errors[names.sku] = 'Enter a SKU.';
    if (!Number.isInteger(quantity) || quantity < 1) errors[names.quantity] = 'Enter a whole number from 1.';
    if (unitPriceCents === null) errors[names.unitPrice] = 'Enter a price in euros, such as 9.99.';
    return { sku: line.sku.trim(), quantity, unitPriceCents: unitPriceCents ?? 0 };
  });
  return { errors, items };
}

/** Places an order for `userId`, then opens the order's page. */
export function PlaceOrderForm({ userId }: { userId: string }) {
  const headingId = useId();
  const navigate = useNavigate();
  const [{ fetching }, placeOrder] = useMutation(PlaceOrderMutation);
  const [idempotencyKey, renewKey] = useIdempotencyKey();
  const [lines, setLines] = useState<Line[]>(() => [emptyLine()]);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string[]>([]);
  const fieldNames = lines.flatMap((_, index) => Object.values(lineFields(index)));
  const { inputRef, failed } = useFocusOnProblem(fieldNames, errors);

  const update = (index: number, change: Partial<Omit<Line, 'key'>>, field: LineField) => {
    renewKey();
    setLines((current) => current.map((line, i) => (i === index ? { ...line, ...change } : line)));
    setErrors((current) => ({ ...current, [lineFields(index)[field]]: undefined }));
    setGeneral([]);
  };

  const remove = (index: number) => {
    renewKey();
    setLines((current) => current.filter((_, i) => i !== index));
    setErrors({});
  };

  const { items } = checkLines(lines);
  const total = items.reduce((sum, item) => sum + (Number.isInteger(item.quantity) ? item.quantity * item.unitPriceCents : 0), 0);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const checked = checkLines(lines);
    if (Object.keys(checked.errors).length > 0) {
      setErrors(checked.errors);
      failed();
      return;
    }
    const result = await placeOrder({ input: { userId, items: checked.items }, idempotencyKey });
    if (result.error || !result.data) {
      const mapped = formErrorsFrom(result.error, fieldNames);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
      failed();
      return;
    }
    const { id, version } = result.data.placeOrder;
    navigate(`/orders/${id}?minVersion=${version}`);
  };

  return (
    <Box component="form" noValidate aria-labelledby={headingId} onSubmit={submit}>
      <Typography id={headingId} variant="h6" component="h2" sx={{ mb: 2 }}>
        Place an order
      </Typography>
      <Stack spacing={2}>
        <FormProblems messages={general} />
        {lines.map((line, index) => {
          const names = lineFields(index);
          return (
            <Box
              component="fieldset"
              key={line.key}
              sx={{ border: 1, borderColor: 'divider', borderRadius: 1, p: 2, m: 0 }}
            >
              <Typography component="legend" variant="subtitle2" sx={{ px: 0.5 }}>
                Item {index + 1}
              </Typography>
              <Stack direction={{ xs: 'column', sm: 'row' }} spacing={2} sx={{ alignItems: { sm: 'flex-start' } }}>
                {LINE_FIELDS.map(({ field, ...props }) => (
                  <FormField
                    key={field}
                    {...props}
                    inputRef={inputRef(names[field])}
                    size="small"
                    required
                    value={line[field]}
                    onChange={(event) => update(index, { [field]: event.target.value }, field)}
                    problem={errors[names[field]]}
                  />
                ))}
                {lines.length > 1 && (
                  <IconButton aria-label={`Remove item ${index + 1}`} onClick={() => remove(index)}>
                    <DeleteOutline />
                  </IconButton>
                )}
              </Stack>
            </Box>
          );
        })}
        <Stack direction="row" spacing={2} sx={{ alignItems: 'center', flexWrap: 'wrap' }}>
          <Button
            onClick={() => {
              renewKey();
              setLines((current) => [...current, emptyLine()]);
            }}
            disabled={lines.length >= MAX_LINES}
          >
            Add item
          </Button>
          <Typography sx={{ flexGrow: 1 }} aria-live="polite">
            Total: {formatCents(total)}
          </Typography>
          <Button type="submit" variant="contained" disabled={fetching || lines.length === 0}>
            Place order
          </Button>
        </Stack>
      </Stack>
    </Box>
  );
}
