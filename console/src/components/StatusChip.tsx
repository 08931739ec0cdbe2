import { Chip } from '@mui/material';

type Tone = 'default' | 'success' | 'warning' | 'error' | 'info';

const TONES: Record<string, Tone> = {
  ACTIVE: 'success',
  APPROVED: 'success',
  RELEASED: 'success',
  RESOLVED: 'success',
  PENDING: 'info',
  RESERVING_CREDIT: 'info',
  APPROVING_ORDER: 'info',
  REJECTING_ORDER: 'warning',
  RELEASING_CREDIT: 'warning',
  REJECTED: 'error',
  FAILED: 'error',
  TIMED_OUT: 'error',
  CANCELLED: 'default',
  DEACTIVATED: 'default',
  ERASED: 'default',
};

/** A user's, order's or saga's status; the chip's text is the status itself. */
export function StatusChip({ status, size = 'small' }: { status: string; size?: 'small' | 'medium' }) {
  return <Chip label={status} color={TONES[status] ?? 'default'} size={size} />;
}
