import type { ReactNode } from 'react';
import { NotAllowed } from '../../components/NotAllowed';
import { useSession } from './session';

/** Renders an administrator's page, or says plainly that this caller may not see it. */
export function RequireStaff({ children }: { children: ReactNode }) {
  const { isStaff } = useSession();
  return isStaff ? <>{children}</> : <NotAllowed />;
}
