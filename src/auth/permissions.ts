/**
 * Permissions (docs/resources.md#permissions): `resource:action` in lower case, with two
 * wildcards, `resource:*` (every action on a resource) and `*` (everything).
 * This is the one matcher every check in Heimdall uses (authorize, the edge
 * middleware); it is pure so it can be tested exhaustively and shipped to
 * clients unchanged.
 */

const SEGMENT = '[a-z0-9](?:[a-z0-9_.-]{0,62}[a-z0-9])?';

/** `resource:action`, `resource:*` or `*`. Segments: lower-case letters, digits, `_ . -`, at most 64 characters. */
export const PERMISSION_PATTERN = new RegExp(`^(?:\\*|${SEGMENT}:(?:${SEGMENT}|\\*))$`);

export function isPermission(value: string): boolean {
  return PERMISSION_PATTERN.test(value);
}

/**
 * True when `granted` allows `required`. A grant matches when it equals the
 * requirement, when it is `resource:*` for the requirement's resource, or
 * when it is `*`. Matching is on whole segments: `projects:read` never
 * satisfies `projects:readme`, and `project:*` never satisfies `projects:read`.
 */
export function grants(granted: string, required: string): boolean {
  if (granted === '*' || granted === required) return true;
  if (!granted.endsWith(':*')) return false;
  const resource = granted.slice(0, -1); // keeps the colon: "projects:"
  return required.startsWith(resource) && required.length > resource.length;
}

/** True when some permission in `granted` allows `required`. */
export function isPermitted(granted: Iterable<string>, required: string): boolean {
  for (const permission of granted) if (grants(permission, required)) return true;
  return false;
}

/** True when every permission in `required` is allowed by `granted`. */
export function isPermittedAll(granted: Iterable<string>, required: Iterable<string>): boolean {
  const list = [...granted];
  for (const permission of required) if (!isPermitted(list, permission)) return false;
  return true;
}

/** The union of several permission lists, de-duplicated, in first-seen order. */
export function mergePermissions(lists: Iterable<readonly string[]>): string[] {
  const out = new Set<string>();
  for (const list of lists) for (const permission of list) out.add(permission);
  return [...out];
}
