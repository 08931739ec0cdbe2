import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { describe, expect, it } from 'vitest';
import { navItems } from '../../app/AppShell';
import { RequireStaff } from './RequireStaff';
import { SessionProvider, sessionOf } from './session';

describe('what a customer may see', () => {
  it('offers a customer their account and orders only', () => {
    const labels = navItems(sessionOf('7d4e-user', 'CUSTOMER')).map((item) => [item.label, item.to]);
    expect(labels).toEqual([
      ['My account', '/users/7d4e-user'],
      ['My orders', '/orders'],
    ]);
  });

  it('offers an administrator every page', () => {
    expect(navItems(sessionOf('root', 'ADMIN')).map((item) => item.label)).toEqual([
      'Health',
      'Users',
      'Orders',
      'Topics',
      'Operations',
      'Follow',
    ]);
  });

  it('tells a customer who opens an administrator page that it is not allowed', () => {
    render(
      <MemoryRouter>
        <SessionProvider value={sessionOf('7d4e-user', 'CUSTOMER')}>
          <RequireStaff>
            <h1>Topics</h1>
          </RequireStaff>
        </SessionProvider>
      </MemoryRouter>,
    );
    expect(screen.getByRole('heading', { level: 1, name: 'Not allowed' })).toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Topics' })).not.toBeInTheDocument();
  });
});
