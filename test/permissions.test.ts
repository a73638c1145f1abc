import { describe, expect, it } from 'vitest';
import { grants, isPermission, isPermitted, isPermittedAll, mergePermissions } from '../src/auth/permissions';

describe('the permission matcher', () => {
  it.each([
    ['projects:read', 'projects:read', true],
    ['projects:read', 'projects:write', false],
    ['projects:*', 'projects:read', true],
    ['projects:*', 'projects:write', true],
    ['projects:*', 'projects:*', true],
    ['*', 'projects:read', true],
    ['*', 'billing:write', true],
    ['projects:read', 'projects:readme', false],
    ['projects:readme', 'projects:read', false],
    ['project:*', 'projects:read', false],
    ['projects:*', 'project:read', false],
    ['projects:*', 'projectsx:read', false],
    ['projects:*', 'projects:', false],
    ['projects:read', 'projects:*', false],
    ['projects:read', '*', false],
    ['projects:*', '*', false],
    ['comments:read', 'projects:read', false],
  ])('%s grants %s: %s', (granted, required, expected) => {
    expect(grants(granted, required)).toBe(expected);
  });

  it('requires every permission of a list, from any of the granted ones', () => {
    expect(isPermittedAll(['projects:read', 'comments:*'], ['projects:read', 'comments:write'])).toBe(true);
    expect(isPermittedAll(['projects:read', 'comments:*'], ['projects:read', 'billing:read'])).toBe(false);
    expect(isPermittedAll([], [])).toBe(true);
    expect(isPermitted([], 'projects:read')).toBe(false);
  });

  it('merges permission lists without duplicates, in first-seen order', () => {
    expect(mergePermissions([['a:read', 'b:read'], ['b:read', '*'], []])).toEqual(['a:read', 'b:read', '*']);
  });

  it.each(['projects:read', 'projects:*', '*', 'billing.invoices:read', 'a-b_c:x.y', 'p2:v2'])('accepts the grammar of %j', (p) => {
    expect(isPermission(p)).toBe(true);
  });

  it.each(['', 'projects', 'projects:', ':read', '*:*', '*:read', 'PROJECTS:WRITE', 'projects:write ', ' projects:write', 'projects:re*d', 'projects:read:x', 'projects::read', '-projects:read', 'projects:read-', `${'a'.repeat(65)}:read`, 'proj ects:read', 'projects:read\n'])(
    'refuses the grammar of %j',
    (p) => {
      expect(isPermission(p)).toBe(false);
    },
  );
});
