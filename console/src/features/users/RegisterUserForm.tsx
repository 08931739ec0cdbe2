import { useId, useState, type FormEvent } from 'react';
import { Button, Card, CardContent, Stack, TextField, Typography } from '@mui/material';
import { useNavigate } from 'react-router-dom';
import { useMutation } from 'urql';
import { formErrorsFrom, type FormErrors } from '../../api/problem';
import { FormProblems } from '../../components/ErrorAlert';
import { useIdempotencyKey } from '../../lib/idempotency';
import { parseEurosToCents } from '../../lib/money';
import { RegisterUserMutation } from './queries';

const FIELDS = ['email', 'name', 'creditLimitCents'] as const;
type Field = (typeof FIELDS)[number];

const noErrors: FormErrors<Field> = { fields: {}, general: [] };

/** Registers a user, then opens their page once the read model has them. */
export function RegisterUserForm() {
  const headingId = useId();
  const navigate = useNavigate();
  const [{ fetching }, register] = useMutation(RegisterUserMutation);
  const [idempotencyKey, renewKey] = useIdempotencyKey();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [creditLimit, setCreditLimit] = useState('');
  const [errors, setErrors] = useState(noErrors);

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
      return;
    }
    const result = await register({ input: { email: email.trim(), name: name.trim(), creditLimitCents }, idempotencyKey });
    if (result.error || !result.data) {
      setErrors(formErrorsFrom(result.error, FIELDS));
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
          <TextField
            label="Email"
            type="email"
            autoComplete="off"
            required
            value={email}
            onChange={(event) => {
              setEmail(event.target.value);
              edited('email');
            }}
            error={Boolean(errors.fields.email)}
            helperText={errors.fields.email ?? ' '}
          />
          <TextField
            label="Name"
            autoComplete="off"
            required
            value={name}
            onChange={(event) => {
              setName(event.target.value);
              edited('name');
            }}
            error={Boolean(errors.fields.name)}
            helperText={errors.fields.name ?? ' '}
          />
          <TextField
            label="Credit limit (EUR)"
            slotProps={{ htmlInput: { inputMode: 'decimal' } }}
            required
            value={creditLimit}
            onChange={(event) => {
              setCreditLimit(event.target.value);
              edited('creditLimitCents');
            }}
            error={Boolean(errors.fields.creditLimitCents)}
            helperText={errors.fields.creditLimitCents ?? 'In euros, e.g. 500 or 12.50'}
          />
          <Button type="submit" variant="contained" disabled={fetching} sx={{ alignSelf: 'flex-start' }}>
            Register user
          </Button>
        </Stack>
      </CardContent>
    </Card>
  );
}
