import { describe, expect, it } from 'vitest';
import { readToken, takeTokenFromUrl } from './token';

describe('takeTokenFromUrl', () => {
  it('signs in from ?token= and removes the token from the address bar', () => {
    window.history.replaceState(null, '', '/orders?token=abc.def.ghi&status=PENDING#top');
    expect(takeTokenFromUrl()).toBe('abc.def.ghi');
    expect(readToken()).toBe('abc.def.ghi');
    expect(`${window.location.pathname}${window.location.search}${window.location.hash}`).toBe('/orders?status=PENDING#top');
  });

  it('leaves an address without a token alone', () => {
    window.history.replaceState(null, '', '/users');
    expect(takeTokenFromUrl()).toBeNull();
    expect(window.location.pathname).toBe('/users');
    expect(readToken()).toBeNull();
  });
});
