import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { describe, expect, it } from 'vitest';
import { UserStateAtQuery as StateAt } from '../features/users/queries';
import { AggregatePage } from './AggregatePage';

function renderPage(props: { fetching: boolean; waiting?: boolean }) {
  render(
    <MemoryRouter>
      <AggregatePage
        title="User"
        noun="user"
        id="u-1"
        record={null}
        error={undefined}
        onRetry={() => undefined}
        stateQuery={StateAt}
        stateAt={(data) => data.user?.stateAt}
        {...props}
      >
        {() => null}
      </AggregatePage>
    </MemoryRouter>,
  );
}

describe('AggregatePage', () => {
  it('says plainly that there is nothing to see, without telling whether it exists', () => {
    renderPage({ fetching: false });
    expect(screen.getByRole('heading', { level: 1, name: 'Not found' })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('There is no user u-1 that you may see.');
  });

  it('waits, rather than saying not found, while a write is on its way', () => {
    renderPage({ fetching: false, waiting: true });
    expect(screen.getByRole('heading', { level: 1, name: 'User' })).toBeInTheDocument();
    expect(screen.getByRole('progressbar', { name: 'Loading the user' })).toBeInTheDocument();
  });
});
