// `signonce groups add|remove GROUP USER…` and `signonce groups list [GROUP]`: SignOnce's own
// groups, which access rules match (`groups: [...]`) beside those providers tell. A USER is an
// account id, a local username, a verified e-mail or an identity's subject (findAccount); a change takes effect on every
// instance within `session.cacheTtl` (at once on PostgreSQL).
import { groupNameProblem } from '../accounts/groups.ts';
import { findAccount } from '../accounts/lookup.ts';
import { auditCommand, parseCommandLine, usageError, withConfiguredStore } from './usage.ts';

export const usage = [
  'signonce groups add|remove GROUP USER... | list [GROUP] [--config FILE]',
  "                          SignOnce's own groups, for access rules: add or remove members (a USER is an account",
  "                          id, a username of a password provider, a verified e-mail or an identity's subject at a",
  '                          provider); list the groups, or the members of one',
].join('\n  ');

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, { config: { type: 'string' } }, usage);
  if (!parsed) return 2;
  const [action, group, ...users] = parsed.positionals;
  const changing = action === 'add' || action === 'remove';
  if (!(changing && group !== undefined && users.length) && !(action === 'list' && users.length === 0))
    return usageError(usage);
  const problem = group === undefined ? undefined : groupNameProblem(group);
  if (problem) return usageError(usage, problem);
  return withConfiguredStore(parsed.values.config, async (config, store) => {
    if (changing) {
      // Every USER is found before anything changes: one unknown leaves the group as it was.
      const accountIds: string[] = [];
      const problems: string[] = [];
      for (const user of users) {
        const found = await findAccount(store, config, user);
        if ('problem' in found) problems.push(found.problem);
        else accountIds.push(found.accountId);
      }
      if (problems.length) {
        process.stderr.write(`${problems.join('\n')}\nnothing changed\n`);
        return 2;
      }
      const distinct = new Set(accountIds).size;
      for (const accountId of new Set(accountIds))
        await auditCommand(store, {
          kind: action === 'add' ? 'group-added' : 'group-removed',
          outcome: 'success',
          accountId,
          detail: { group },
        });
      if (action === 'add') {
        const added = await store.addGroupMembers(group!, accountIds);
        process.stdout.write(
          `added ${added} of ${distinct} account(s) to ${group}${added < distinct ? ` (${distinct - added} already in it)` : ''}\n`,
        );
      } else {
        const removed = await store.removeGroupMembers(group!, accountIds);
        process.stdout.write(
          `removed ${removed} of ${distinct} account(s) from ${group}${removed < distinct ? ` (${distinct - removed} not in it)` : ''}\n`,
        );
      }
      return 0;
    }
    if (group === undefined) {
      const groups = await store.listGroups();
      for (const { name, members } of groups) process.stdout.write(`${name}\t${members}\n`);
      if (!groups.length) process.stderr.write('no groups (add members with: signonce groups add GROUP USER...)\n');
      return 0;
    }
    const members = await store.listGroupMembers(group);
    if (!members.length) {
      process.stderr.write(`no group "${group}" (no account is a member of it)\n`);
      return 1;
    }
    for (const { accountId, addedAt } of members) {
      const identities = (await store.listIdentities(accountId)).map((i) => `${i.provider}:${i.subject}`);
      process.stdout.write(`${accountId}\t${new Date(addedAt).toISOString()}\t${identities.join(' ')}\n`);
    }
    return 0;
  });
}
