import { useState, type FormEvent } from 'react';
import { Alert, Box, Button, Card, CardContent, Stack, Typography } from '@mui/material';
import { FormField } from '../../components/FormField';
import { PageHeading } from '../../components/PageHeading';
import { useAuth } from './AuthProvider';

export function SignInPage() {
  const { signIn, notice } = useAuth();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (token.trim() === '') {
      setError('Paste the bearer token (a JWT) you were given.');
      return;
    }
    signIn(token);
  };

  return (
    <Box component="main" sx={{ display: 'grid', placeItems: 'center', minHeight: '100vh', p: 2 }}>
      <Card sx={{ width: '100%', maxWidth: 480 }}>
        <CardContent>
          <PageHeading>Sign in</PageHeading>
          <Stack component="form" noValidate onSubmit={submit} spacing={2} aria-label="Sign in">
            {notice && <Alert severity="warning">{notice}</Alert>}
            <Typography variant="body2" color="text.secondary">
              The console acts with your token: an administrator sees everything, a customer their own
              account and orders. The token is kept in this tab only.
            </Typography>
            <FormField
              label="Bearer token"
              type="password"
              autoComplete="off"
              autoFocus
              required
              value={token}
              onChange={(event) => {
                setToken(event.target.value);
                setError(null);
              }}
              problem={error}
            />
            <Button type="submit" variant="contained">
              Sign in
            </Button>
          </Stack>
        </CardContent>
      </Card>
    </Box>
  );
}
