import { graphql } from '../../gql';

export const UsersQuery = graphql(`
  query Users($first: Int, $after: String, $email: String, $namePrefix: String, $status: UserStatus) {
    users(first: $first, after: $after, email: $email, namePrefix: $namePrefix, status: $status) {
      items {
        id
        email
        name
        status
        creditLimitCents
        availableCents
        version
        createdAt
      }
      nextCursor
    }
  }
`);

export const UserDetailQuery = graphql(`
  query UserDetail($id: UUID!, $minVersion: Int) {
    user(id: $id, minVersion: $minVersion) {
      id
      email
      name
      status
      creditLimitCents
      reservedCents
      availableCents
      version
      createdAt
      updatedAt
      orderSummary {
        count
        totalCents
        byStatus {
          status
          count
          totalCents
        }
      }
      orders(first: 20) {
        items {
          id
          status
          totalCents
          currency
          placedAt
        }
        nextCursor
      }
      events {
        ...StoredEventFields
      }
    }
  }
`);

export const UserStateAtQuery = graphql(`
  query UserStateAt($id: UUID!, $version: Int!) {
    user(id: $id) {
      id
      stateAt(version: $version) {
        version
        state
      }
    }
  }
`);

export const RegisterUserMutation = graphql(`
  mutation RegisterUser($input: RegisterUserInput!, $idempotencyKey: String) {
    registerUser(input: $input, idempotencyKey: $idempotencyKey) {
      id
      version
    }
  }
`);

export const RenameUserMutation = graphql(`
  mutation RenameUser($id: UUID!, $name: String!, $expectedVersion: Int) {
    renameUser(id: $id, name: $name, expectedVersion: $expectedVersion) {
      id
      version
    }
  }
`);

export const ChangeEmailMutation = graphql(`
  mutation ChangeEmail($id: UUID!, $email: String!, $expectedVersion: Int) {
    changeEmail(id: $id, email: $email, expectedVersion: $expectedVersion) {
      id
      version
    }
  }
`);

export const ChangeCreditLimitMutation = graphql(`
  mutation ChangeCreditLimit($id: UUID!, $creditLimitCents: Int!, $expectedVersion: Int) {
    changeCreditLimit(id: $id, creditLimitCents: $creditLimitCents, expectedVersion: $expectedVersion) {
      id
      version
    }
  }
`);

export const DeactivateUserMutation = graphql(`
  mutation DeactivateUser($id: UUID!, $reason: String!, $expectedVersion: Int) {
    deactivateUser(id: $id, reason: $reason, expectedVersion: $expectedVersion) {
      id
      version
    }
  }
`);

export const EraseUserMutation = graphql(`
  mutation EraseUser($id: UUID!, $reason: String!, $expectedVersion: Int) {
    eraseUser(id: $id, reason: $reason, expectedVersion: $expectedVersion) {
      id
      version
    }
  }
`);

export const UserExportQuery = graphql(`
  query UserExport($id: UUID!) {
    userExport(id: $id)
  }
`);
