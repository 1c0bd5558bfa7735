// SignOnce's own groups (`signonce groups`, the admin console): what may name one.

const MAX_GROUP_NAME = 128;

/** Why `name` cannot name a group, or undefined: 1 to 128 characters, none of them a control character. */
export function groupNameProblem(name: string): string | undefined {
  const length = [...name].length;
  if (length < 1 || length > MAX_GROUP_NAME || /\p{Cc}/u.test(name))
    return `${JSON.stringify(name)} is not a group name (1 to ${MAX_GROUP_NAME} characters, no control characters)`;
  return undefined;
}
