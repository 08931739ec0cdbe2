import { render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { describe, expect, it } from 'vitest';
import { EventStream } from './EventStream';

const event = (sequence: number, correlationId: string | null) => ({
  sequence,
  eventId: `event-${sequence}`,
  eventType: sequence === 1 ? 'OrderPlaced' : 'OrderApproved',
  eventVersion: '1',
  payload: {},
  recordedAt: '2026-12-05T10:00:00Z',
  metadata: { correlationId, causationId: null, actor: 'admin:root' },
});

describe('EventStream', () => {
  it('links each correlation id to the Follow page', () => {
    render(
      <MemoryRouter>
        <EventStream events={[event(2, 'c-7'), event(1, 'c 1/2')]} />
      </MemoryRouter>,
    );
    const rows = within(screen.getByRole('table', { name: 'Event stream' })).getAllByRole('row');
    expect(rows[1]).toHaveTextContent('OrderPlaced');
    const first = screen.getByRole('link', { name: 'Follow correlation c 1/2' });
    expect(first).toHaveAttribute('href', '/follow/c%201%2F2');
    expect(first).toHaveTextContent('c 1/2');
    expect(screen.getByRole('link', { name: 'Follow correlation c-7' })).toHaveAttribute('href', '/follow/c-7');
  });

  it('shows no link for an event without a correlation id', () => {
    render(
      <MemoryRouter>
        <EventStream events={[event(1, null)]} />
      </MemoryRouter>,
    );
    expect(screen.queryByRole('link')).not.toBeInTheDocument();
  });
});
