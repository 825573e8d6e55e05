// Lambda's input validation, with the messages its service framework prints
// ("1 validation error detected: Value 'x' at 'memorySize' failed to satisfy
// constraint: ..."). Each check records a problem; the caller throws them all
// at once, as Lambda does.
import { serializationError, validationError } from '../errors.js';

export class Problems {
  readonly list: string[] = [];

  add(value: unknown, field: string, constraint: string): void {
    const shown = value === undefined || value === null ? 'null' : `'${render(value)}'`;
    this.list.push(`Value ${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
  }

  /** Throws Lambda's ValidationException when any check failed. */
  throwIfAny(): void {
    if (this.list.length > 0) throw validationError(this.list);
  }
}

const render = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(render).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}=${render(v)}`)
      .join(', ')}}`;
  }
  return String(value);
};

export interface StringRule {
  min?: number;
  max?: number;
  pattern?: RegExp;
  /** The pattern as Lambda prints it (Java regex syntax). */
  patternText?: string;
  enumValues?: readonly string[];
  required?: boolean;
}

/** Checks a string member; returns it when present and of the right type. */
export function checkString(p: Problems, value: unknown, field: string, rule: StringRule): string | undefined {
  if (value === undefined || value === null) {
    if (rule.required) p.add(value, field, 'Member must not be null');
    return undefined;
  }
  if (typeof value !== 'string') throw typeMismatch(field, 'a string', value);
  if (rule.min !== undefined && value.length < rule.min) {
    p.add(value, field, `Member must have length greater than or equal to ${rule.min}`);
  }
  if (rule.max !== undefined && value.length > rule.max) {
    p.add(value, field, `Member must have length less than or equal to ${rule.max}`);
  }
  if (rule.pattern && !rule.pattern.test(value)) {
    p.add(value, field, `Member must satisfy regular expression pattern: ${rule.patternText ?? rule.pattern.source}`);
  }
  if (rule.enumValues && !rule.enumValues.includes(value)) {
    p.add(value, field, `Member must satisfy enum value set: [${rule.enumValues.join(', ')}]`);
  }
  return value;
}

export interface IntRule {
  min?: number;
  max?: number;
  required?: boolean;
}

export function checkInt(p: Problems, value: unknown, field: string, rule: IntRule): number | undefined {
  if (value === undefined || value === null) {
    if (rule.required) p.add(value, field, 'Member must not be null');
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw typeMismatch(field, 'an integer', value);
  if (rule.min !== undefined && value < rule.min) {
    p.add(value, field, `Member must have value greater than or equal to ${rule.min}`);
  }
  if (rule.max !== undefined && value > rule.max) {
    p.add(value, field, `Member must have value less than or equal to ${rule.max}`);
  }
  return value;
}

export function checkBool(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw typeMismatch(field, 'a boolean', value);
  return value;
}

export function checkObject(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw typeMismatch(field, 'an object', value);
  return value as Record<string, unknown>;
}

export function checkStringList(p: Problems, value: unknown, field: string, rule: StringRule & { maxItems?: number }): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw typeMismatch(field, 'a list', value);
  if (rule.maxItems !== undefined && value.length > rule.maxItems) {
    p.add(value, field, `Member must have length less than or equal to ${rule.maxItems}`);
  }
  const { maxItems: _maxItems, ...itemRule } = rule;
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw typeMismatch(`${field}.${i + 1}`, 'a string', item);
  });
  const bad = value.filter((item: string) => {
    const q = new Problems();
    checkString(q, item, field, itemRule);
    return q.list.length > 0;
  });
  if (bad.length > 0 && itemRule.enumValues) {
    p.add(value, field, `Member must satisfy constraint: [Member must satisfy enum value set: [${itemRule.enumValues.join(', ')}]]`);
  } else if (bad.length > 0) {
    for (const [i, item] of (value as string[]).entries()) checkString(p, item, `${field}.${i + 1}.member`, itemRule);
  }
  return value as string[];
}

export function checkStringMap(value: unknown, field: string): Record<string, string> | undefined {
  const obj = checkObject(value, field);
  if (!obj) return undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'string') throw typeMismatch(`${field}.${k}`, 'a string', v);
  }
  return obj as Record<string, string>;
}

// A member of the wrong JSON type never reaches Lambda's validators: its
// deserializer rejects the whole request first.
const typeMismatch = (field: string, expected: string, value: unknown): Error =>
  serializationError(`Unexpected value for ${field}: expected ${expected}, got ${value === null ? 'null' : typeof value}.`);
