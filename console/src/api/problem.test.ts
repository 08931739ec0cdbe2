import { CombinedError } from '@urql/core';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { validationError } from '../test/fakeClient';
import { describeError, formErrorsFrom, formFieldOf } from './problem';

describe('formFieldOf', () => {
  it('names a REST body field as the form does', () => {
    expect(formFieldOf('email')).toBe('email');
    expect(formFieldOf('credit_limit_cents')).toBe('creditLimitCents');
    expect(formFieldOf('items[0].quantity')).toBe('items.0.quantity');
    expect(formFieldOf('items[12].unit_price_cents')).toBe('items.12.unitPriceCents');
  });
});

describe('formErrorsFrom', () => {
  it('puts each validation message on the field it names', () => {
    const error = validationError([
      { field: 'email', code: 'invalid', message: 'is not an email address' },
      { field: 'credit_limit_cents', code: 'range', message: 'must not be negative' },
    ]);
    const errors = formErrorsFrom(error, ['email', 'name', 'creditLimitCents'] as const);
    expect(errors.fields).toEqual({ email: 'is not an email address', creditLimitCents: 'must not be negative' });
    expect(errors.general).toEqual([]);
  });

  it('maps indexed fields of a list onto the matching line', () => {
    const error = validationError([{ field: 'items[1].quantity', code: 'range', message: 'must be 1 to 1000' }]);
    const errors = formErrorsFrom(error, ['items.0.quantity', 'items.1.quantity'] as const);
    expect(errors.fields).toEqual({ 'items.1.quantity': 'must be 1 to 1000' });
  });

  it('joins two messages for one field', () => {
    const error = validationError([
      { field: 'name', code: 'empty', message: 'is empty' },
      { field: 'name', code: 'length', message: 'is too short' },
    ]);
    expect(formErrorsFrom(error, ['name'] as const).fields.name).toBe('is empty; is too short');
  });

  it('says above the form what fits no field', () => {
    const error = validationError([{ field: 'currency', code: 'unsupported', message: 'only EUR' }]);
    const errors = formErrorsFrom(error, ['email'] as const);
    expect(errors.fields).toEqual({});
    expect(errors.general).toEqual(['Invalid request: Some fields are invalid (currency: only EUR)']);
  });

  it('shows the title and detail of a problem without fields', () => {
    const error = new CombinedError({
      graphQLErrors: [
        new GraphQLError('conflict', { extensions: { status: 409, title: 'Email taken', detail: 'ann@example.com is registered' } }),
      ],
    });
    expect(formErrorsFrom(error, ['email'] as const)).toEqual({
      fields: {},
      general: ['Email taken: ann@example.com is registered'],
    });
    expect(describeError(error)).toBe('Email taken: ann@example.com is registered');
  });

  it('tells a network failure apart', () => {
    const error = new CombinedError({ networkError: new Error('Failed to fetch') });
    expect(formErrorsFrom(error, ['email'] as const).general[0]).toMatch(/gateway could not be reached/);
  });

  it('has nothing to say without an error', () => {
    expect(formErrorsFrom(undefined, ['email'] as const)).toEqual({ fields: {}, general: [] });
  });
});
