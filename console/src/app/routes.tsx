import { Navigate, Route, Routes } from 'react-router-dom';
import { NotFound } from '../components/NotAllowed';
import { RequireStaff } from '../features/auth/RequireStaff';
import { useSession } from '../features/auth/session';
import { FollowPage } from '../features/follow/FollowPage';
import { HealthPage } from '../features/health/HealthPage';
import { OperationsPage } from '../features/operations/OperationsPage';
import { OrderDetailPage } from '../features/orders/OrderDetailPage';
import { OrdersPage } from '../features/orders/OrdersPage';
import { TopicsPage } from '../features/topics/TopicsPage';
import { UserDetailPage } from '../features/users/UserDetailPage';
import { UsersPage } from '../features/users/UsersPage';
import { AppShell } from './AppShell';

/** Staff land on Health; a customer on their own account. */
function Landing() {
  const session = useSession();
  return session.isStaff ? <HealthPage /> : <Navigate to={`/users/${session.subject}`} replace />;
}

function UsersRoute() {
  const session = useSession();
  return session.isStaff ? <UsersPage /> : <Navigate to={`/users/${session.subject}`} replace />;
}

export function AppRoutes() {
  return (
    <Routes>
      <Route element={<AppShell />}>
        <Route index element={<Landing />} />
        <Route
          path="health"
          element={
            <RequireStaff>
              <HealthPage />
            </RequireStaff>
          }
        />
        <Route path="users" element={<UsersRoute />} />
        <Route path="users/:id" element={<UserDetailPage />} />
        <Route path="orders" element={<OrdersPage />} />
        <Route path="orders/:id" element={<OrderDetailPage />} />
        <Route
          path="topics"
          element={
            <RequireStaff>
              <TopicsPage />
            </RequireStaff>
          }
        />
        <Route
          path="operations"
          element={
            <RequireStaff>
              <OperationsPage />
            </RequireStaff>
          }
        />
        <Route
          path="follow/:correlationId?"
          element={
            <RequireStaff>
              <FollowPage />
            </RequireStaff>
          }
        />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
