import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { Provider } from 'urql';
import { describe, expect, it } from 'vitest';
import { fakeClient, validationError, type FakeAnswer } from '../../test/fakeClient';
import { RegisterUserForm } from './RegisterUserForm';

function WhereAmI() {
  const location = useLocation();
  return <p>at {`${location.pathname}${location.search}`}</p>;
}

function renderForm(mutation: (variables: Record<string, unknown>) => FakeAnswer) {
  const fake = fakeClient({ mutation });
  render(
    <Provider value={fake.client}>
      <MemoryRouter initialEntries={['/users']}>
        <Routes>
          <Route path="/users" element={<RegisterUserForm />} />
          <Route path="/users/:id" element={<WhereAmI />} />
        </Routes>
      </MemoryRouter>
    </Provider>,
  );
  return fake;
}

async function fillIn(email: string, name: string, creditLimit: string) {
  const user = userEvent.setup();
  const form = screen.getByRole('form', { name: 'Register a user' });
  await user.type(screen.getByLabelText(/^Email/), email);
  await user.type(screen.getByLabelText(/^Name/), name);
  await user.type(screen.getByLabelText(/^Credit limit \(EUR\)/), creditLimit);
  await user.click(screen.getByRole('button', { name: 'Register user' }));
  return form;
}

describe('RegisterUserForm', () => {
  it('shows the service’s validation error on the email field', async () => {
    renderForm(() => ({
      error: validationError([{ field: 'email', code: 'invalid', message: 'is not a valid email address' }]),
    }));

    await fillIn('not-an-email', 'Ann', '500');

    const email = await screen.findByRole('textbox', { name: /^Email/ });
    expect(email).toHaveAttribute('aria-invalid', 'true');
    expect(email).toHaveAccessibleDescription('is not a valid email address');
    expect(email).toHaveFocus();
    expect(screen.getByRole('textbox', { name: /^Name/ })).toHaveAttribute('aria-invalid', 'false');
  });

  it('sends the credit limit in cents and opens the new user at the version returned', async () => {
    const fake = renderForm(() => ({ data: { registerUser: { __typename: 'CommandResult', id: 'u-1', version: 1 } } }));

    await fillIn('ann@example.com', 'Ann', '1234.5');

    expect(await screen.findByText('at /users/u-1?minVersion=1')).toBeInTheDocument();
    expect(fake.mutations).toHaveLength(1);
    expect(fake.mutations[0]).toMatchObject({
      input: { email: 'ann@example.com', name: 'Ann', creditLimitCents: 123450 },
    });
    expect(typeof fake.mutations[0]?.idempotencyKey).toBe('string');
  });

  it('does not send an amount it cannot read', async () => {
    const fake = renderForm(() => ({ data: { registerUser: { id: 'u-1', version: 1 } } }));

    await fillIn('ann@example.com', 'Ann', 'lots');

    expect(screen.getByRole('textbox', { name: /^Credit limit/ })).toHaveAccessibleDescription(/Enter an amount in euros/);
    expect(screen.getByRole('textbox', { name: /^Credit limit/ })).toHaveFocus();
    expect(fake.mutations).toHaveLength(0);
  });
});
