// The gateway reports a service's problem+json as a GraphQL error whose extensions carry
// `status`, `title`, `detail` and, for validation, `fields: [{ field, code, message }]` named as
// in the REST body (`credit_limit_cents`, `items[0].quantity`). Forms name their fields in
// camelCase paths (`creditLimitCents`, `items.0.quantity`); this module maps one onto the other.
import type { CombinedError } from '@urql/core';
import { isObject } from '../lib/json';

export interface FieldProblem {
  field: string;
  code: string;
  message: string;
}

export interface Problem {
  status: number | null;
  title: string | null;
  detail: string | null;
  fields: FieldProblem[];
  /** For a 409 on a command sent at a version: the version the aggregate is at now. */
  currentVersion: number | null;
  /** The GraphQL error's own message. */
  message: string;
}

/** Errors a form shows: per field, and the rest above the form. */
export interface FormErrors<F extends string> {
  fields: Partial<Record<F, string>>;
  general: string[];
}

function fieldProblems(value: unknown): FieldProblem[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item): FieldProblem[] => {
    if (!isObject(item) || typeof item.field !== 'string') return [];
    const code = typeof item.code === 'string' ? item.code : 'invalid';
    const message = typeof item.message === 'string' && item.message !== '' ? item.message : code;
    return [{ field: item.field, code, message }];
  });
}

/** The problems carried by an error's GraphQL errors, in order. */
export function problemsOf(error: CombinedError): Problem[] {
  return error.graphQLErrors.map((graphQLError) => {
    const extensions: unknown = graphQLError.extensions;
    const ext = isObject(extensions) ? extensions : {};
    return {
      status: typeof ext.status === 'number' ? ext.status : null,
      title: typeof ext.title === 'string' ? ext.title : null,
      detail: typeof ext.detail === 'string' ? ext.detail : null,
      fields: fieldProblems(ext.fields),
      currentVersion: typeof ext.currentVersion === 'number' ? ext.currentVersion : null,
      message: graphQLError.message,
    };
  });
}

/** `items[0].unit_price_cents` → `items.0.unitPriceCents`. */
export function formFieldOf(serverField: string): string {
  return serverField
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .map((part) => part.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()))
    .join('.');
}

/** A network error's message, short: a proxy's HTML error page is no message. */
export function networkMessage(error: Error): string {
  const text = error.message.replace(/\s+/g, ' ').trim();
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function summary(problem: Problem): string {
  if (problem.title && problem.detail) return `${problem.title}: ${problem.detail}`;
  return problem.detail ?? problem.title ?? problem.message;
}

/** Spreads an error over a form's fields; what fits no field goes to `general`. */
export function formErrorsFrom<F extends string>(
  error: CombinedError | null | undefined,
  formFields: readonly F[],
): FormErrors<F> {
  const result: FormErrors<F> = { fields: {}, general: [] };
  if (!error) return result;
  if (error.networkError) {
    result.general.push(`The gateway could not be reached (${networkMessage(error.networkError)}). Try again.`);
  }
  const known = new Set<string>(formFields);
  const isFormField = (name: string): name is F => known.has(name);
  for (const problem of problemsOf(error)) {
    const unplaced: string[] = [];
    for (const { field, message } of problem.fields) {
      const name = formFieldOf(field);
      if (isFormField(name)) {
        const before = result.fields[name];
        result.fields[name] = before ? `${before}; ${message}` : message;
      } else {
        unplaced.push(`${field}: ${message}`);
      }
    }
    if (problem.fields.length === 0) {
      result.general.push(summary(problem));
    } else if (unplaced.length > 0) {
      result.general.push(`${summary(problem)} (${unplaced.join('; ')})`);
    }
  }
  result.general = [...new Set(result.general)];
  return result;
}

/**
 * The aggregate's current version when a command sent at an older one was refused (409): the
 * thing changed since the page showed it. `null` for any other error.
 */
export function staleVersion(error: CombinedError | null | undefined): number | null {
  if (!error) return null;
  const stale = problemsOf(error).find((problem) => problem.status === 409 && problem.currentVersion !== null);
  return stale?.currentVersion ?? null;
}

/** One line for an error outside a form. */
export function describeError(error: CombinedError): string {
  if (error.networkError) return `The gateway could not be reached: ${networkMessage(error.networkError)}`;
  const problems = problemsOf(error);
  if (problems.length === 0) return error.message;
  return [...new Set(problems.map(summary))].join(' — ');
}

/** The request was refused for want of a valid token (HTTP 401 or the problem's status). */
export function isUnauthenticated(error: CombinedError): boolean {
  if (error.response instanceof Response && error.response.status === 401) return true;
  return problemsOf(error).some((problem) => problem.status === 401);
}
