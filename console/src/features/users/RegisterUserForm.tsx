import { useId, useState, type FormEvent } from 'react';
import { Button, Card, CardContent, Stack, Typography } from '@mui/material';
import { useNavigate } from 'react-router-dom';
import { useMutation } from 'urql';
import { formErrorsFrom, type FormErrors } from '../../api/problem';
import { FormProblems } from '../../components/ErrorAlert';
import { FormField, type FormFieldProps } from '../../components/FormField';
import { useFocusOnProblem } from '../../lib/useFocusOnProblem';
import { useIdempotencyKey } from '../../lib/idempotency';
import { parseEurosToCents } from '../../lib/money';
import { RegisterUserMutation } from './queries';

const FIELDS = ['email', 'name', 'creditLimitCents'] as const;
type Field = (typeof FIELDS)[number];

const noErrors: FormErrors<Field> = { fields: {}, general: [] };

/** How each field is labelled and typed in. */
const FIELD_PROPS: Record<Field, FormFieldProps> = {
  email: { label: 'Email', type: 'email', autoComplete: 'off' },
  name: { label: 'Name', autoComplete: 'off' },
  creditLimitCents: {
    label: 'Credit limit (EUR)',
    slotProps: { htmlInput: { inputMode: 'decimal' } },
    hint: 'In euros, e.g. 500 or 12.50',
  },
};

/** Registers a user, then opens their page once the read model has them. */
export function RegisterUserForm() {
  const headingId = useId();
  const navigate = useNavigate();
  const [{ fetching }, register] = useMutation(RegisterUserMutation);
  const [idempotencyKey, renewKey] = useIdempotencyKey();
  const [values, setValues] = useState<Record<Field, string>>({ email: '', name: '', creditLimitCents: '' });
  const { email, name, creditLimitCents: creditLimit } = values;
  const [errors, setErrors] = useState(noErrors);
  const { inputRef, failed } = useFocusOnProblem(FIELDS, errors.fields);

  const edited = (field: Field) => {
    renewKey();
    setErrors((current) => ({ fields: { ...current.fields, [field]: undefined }, general: [] }));
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const creditLimitCents = parseEurosToCents(creditLimit);
    const local: FormErrors<Field> = { fields: {}, general: [] };
    if (email.trim() === '') local.fields.email = 'Enter an email address.';
    if (name.trim() === '') local.fields.name = 'Enter a name.';
    if (creditLimitCents === null) local.fields.creditLimitCents = 'Enter an amount in euros, such as 500 or 12.50.';
    if (Object.keys(local.fields).length > 0 || creditLimitCents === null) {
      setErrors(local);
      failed();
      return;
    }
    const result = await register({ input: { email: email.trim(), name: name.trim(), creditLimitCents }, idempotencyKey });
    if (result.error || !result.data) {
      setErrors(formErrorsFrom(result.error, FIELDS));
      failed();
      return;
    }
    const { id, version } = result.data.registerUser;
    navigate(`/users/${id}?minVersion=${version}`);
  };

  return (
    <Card variant="outlined">
      <CardContent>
        <Typography id={headingId} variant="h6" component="h2" sx={{ mb: 2 }}>
          Register a user
        </Typography>
        <Stack component="form" noValidate aria-labelledby={headingId} onSubmit={submit} spacing={2}>
          <FormProblems messages={errors.general} />
          {FIELDS.map((field) => (
            <FormField
              key={field}
              {...FIELD_PROPS[field]}
              inputRef={inputRef(field)}
              required
              value={values[field]}
              onChange={(event) => {
                setValues((current) => ({ ...current, [field]: event.target.value }));
                edited(field);
              }}
              problem={errors.fields[field]}
            />
          ))}
          <Button type="submit" variant="contained" disabled={fetching} sx={{ alignSelf: 'flex-start' }}>
            Register user
          </Button>
        </Stack>
      </CardContent>
    </Card>
  );
}
