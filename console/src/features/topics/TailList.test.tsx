import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { describe, expect, it } from 'vitest';
import { pushRecord } from './TailPanel';
import { TailList, type TailRecord } from './TailList';

const undecodable: TailRecord = {
  topic: 'orders.events',
  partition: 2,
  offset: 41,
  key: 'k-1',
  timestamp: '2026-12-05T10:00:00Z',
  headers: {},
  envelope: null,
  error: 'invalid wire type 7 at offset 3',
  rawHex: '0a0bdeadbeef',
};

const placed: TailRecord = {
  topic: 'orders.events',
  partition: 0,
  offset: 7,
  key: 'o-1',
  timestamp: '2026-12-05T10:00:01Z',
  headers: {},
  error: null,
  rawHex: null,
  envelope: {
    eventId: 'e-1',
    aggregateType: 'order',
    aggregateId: 'o-1',
    sequence: 1,
    eventType: 'OrderPlaced',
    schemaVersion: 1,
    recordedAt: '2026-12-05T10:00:01Z',
    correlationId: 'c-1',
    causationId: 'c-1',
    actor: 'admin',
    payload: { total_cents: 1999 },
  },
};

function renderList(records: TailRecord[]) {
  render(
    <MemoryRouter>
      <TailList records={records} />
    </MemoryRouter>,
  );
}

describe('TailList', () => {
  it('shows an undecodable record raw, with its error', () => {
    renderList([undecodable]);
    const item = within(screen.getByRole('list', { name: 'Tailed records' })).getByRole('listitem');
    expect(within(item).getByText('undecodable')).toBeInTheDocument();
    expect(within(item).getByText('Error: invalid wire type 7 at offset 3')).toBeInTheDocument();
    const raw = within(item).getByText('0a0bdeadbeef');
    expect(raw.tagName).toBe('CODE');
    expect(within(item).getByText(/partition 2, offset 41/)).toBeInTheDocument();
  });

  it('shows a decoded record with a link to its aggregate and its payload on demand', async () => {
    renderList([placed]);
    expect(screen.getByText('OrderPlaced')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'o-1' })).toHaveAttribute('href', '/orders/o-1');
    expect(screen.queryByText(/total_cents/)).not.toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole('button', { name: 'Show payload of OrderPlaced at offset 7' }));
    expect(screen.getByRole('region', { name: 'Payload of OrderPlaced at offset 7' })).toHaveTextContent('"total_cents": 1999');
  });

  it('lists the newest record first and keeps a bounded number', () => {
    let buffer = pushRecord(undefined, placed, 2);
    buffer = pushRecord(buffer, undecodable, 2);
    buffer = pushRecord(buffer, { ...placed, offset: 8 }, 2);
    expect(buffer.records.map((record) => record.offset)).toEqual([8, 41]);
    expect(buffer.received).toBe(3);
  });
});
