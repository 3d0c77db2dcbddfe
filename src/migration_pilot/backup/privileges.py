"""PostgreSQL restore preflight: what an archive needs from the target, and what the restoring role lacks (G1).

Read before the target is touched. From `pg_restore --list`: the owner of
every entry and the extensions; from the archive's ACL entries (their SQL,
printed by `pg_restore --use-list`): the roles that GRANT, REVOKE and
ALTER DEFAULT PRIVILEGES name. Compared with `pg_roles`,
`pg_available_extension_versions`, `pg_extension` and the current user's
privileges, every problem is collected, so one refusal names them all.

What PostgreSQL requires, and so what is checked:

- `ALTER ... OWNER TO r` needs r to exist and the restoring role to be a
  member of r (PostgreSQL 16+: able to SET ROLE r); superusers need only
  the role to exist. `--no-owner` skips it.
- `GRANT ... TO r` needs r to exist; `ALTER DEFAULT PRIVILEGES FOR ROLE r`
  and a grant made by another role (SET SESSION AUTHORIZATION r) need
  membership of r. `--no-acl` (or `--no-owner`) skips them.
- `CREATE EXTENSION e` needs e installed on the server; a trusted extension
  needs CREATE on the database, any other a superuser. An extension the
  target already has must be owned by the restoring role (its COMMENT and
  the --clean DROP require it).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from migration_pilot.backup import tools

_TOC_ENTRY: Final = re.compile(r"^\d+; \d+ \d+ (.+)$")
_EXTENSION: Final = re.compile(r"^\d+; \d+ \d+ EXTENSION - (\S+)\s*$")
_COMMENT_ON_EXTENSION: Final = re.compile(r"^\d+; \d+ \d+ COMMENT - EXTENSION (\S+)\s*$")
_ACL_ENTRY: Final = re.compile(r"^\d+; \d+ \d+ (?:DEFAULT )?ACL ")
_ROLE: Final = r'("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_GRANTEE: Final = re.compile(rf"^(?:GRANT|REVOKE) .* (?:TO|FROM) {_ROLE}(?: WITH GRANT OPTION| CASCADE)?;$")
_ACTING: Final = re.compile(rf"(?:^SET SESSION AUTHORIZATION |\bFOR ROLE ){_ROLE}")
_NOT_ROLES: Final = {"PUBLIC", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE"}


@dataclass(frozen=True, slots=True)
class ArchiveNeeds:
    """What restoring one archive asks of the target server."""

    owners: Counter[str] = field(default_factory=Counter)
    """Owner role -> number of archive entries it owns."""
    acting_roles: frozenset[str] = frozenset()
    """Roles the ACL statements act as (ALTER DEFAULT PRIVILEGES FOR ROLE, SET SESSION AUTHORIZATION)."""
    grantees: frozenset[str] = frozenset()
    """Roles the ACL statements grant to or revoke from."""
    extensions: tuple[str, ...] = ()
    commented_extensions: frozenset[str] = frozenset()

    @property
    def roles(self) -> frozenset[str]:
        """Every role the archive names: owners, grantees and the roles ACL statements act as."""
        return frozenset(self.owners) | self.grantees | self.acting_roles


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the restoring role lacks, and how to fix it."""

    problem: str
    fix: str


def _unquote(role: str) -> str:
    return role[1:-1].replace('""', '"') if role.startswith('"') else role


def archive_needs(toc: list[str], path: Path, pg_restore: Path, *, acl: bool) -> ArchiveNeeds:
    """Owners and extensions from the table of contents; with `acl`, the roles its ACL entries name."""
    owners: Counter[str] = Counter()
    extensions: list[str] = []
    commented: set[str] = set()
    for line in toc:
        line = line.rstrip("\r\n")  # an entry without owner (BLOBS, EXTENSION) ends with a space
        if extension := _EXTENSION.match(line):
            extensions.append(extension[1])
            continue
        if comment := _COMMENT_ON_EXTENSION.match(line):
            commented.add(comment[1])
            continue
        entry = _TOC_ENTRY.match(line)
        if entry and not _ACL_ENTRY.match(line):
            owner = entry[1].rsplit(" ", 1)
            if len(owner) == 2 and owner[1] and owner[1] != "-":
                owners[owner[1]] += 1
    acting: set[str] = set()
    grantees: set[str] = set()
    acl_lines = [line for line in toc if _ACL_ENTRY.match(line)]
    if acl and acl_lines:
        for statement in _acl_script(acl_lines, path, pg_restore):
            acting.update(_unquote(m) for m in _ACTING.findall(statement))
            if grant := _GRANTEE.match(statement):
                grantees.add(_unquote(grant[1]))
    return ArchiveNeeds(owners, frozenset(acting - _NOT_ROLES), frozenset(grantees - _NOT_ROLES),
                        tuple(extensions), frozenset(commented))


def _acl_script(acl_lines: list[str], path: Path, pg_restore: Path) -> list[str]:
    """The SQL of the archive's ACL entries only (pg_restore --use-list), one statement a line."""
    with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
        listing.write("\n".join(acl_lines) + "\n")
        listing.flush()
        done = subprocess.run([str(pg_restore), f"--use-list={listing.name}", "--file=-", str(path)],
                              capture_output=True, text=True, env=tools.pg_env({}), check=False)
    return [line.strip() for line in done.stdout.splitlines() if line.strip() and not line.startswith("--")]


def missing_privileges(connection: Any, needs: ArchiveNeeds, *, database: str, new_database: bool,
                       no_owner: bool, no_acl: bool) -> list[Problem]:
    """What the current user of `connection` lacks to restore an archive with `needs` into `database`.

    `new_database`: the restore creates `database` as this user (who will own it); otherwise
    `connection` is connected to `database` itself.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, current_setting('server_version_num')::int"
                       " FROM pg_roles WHERE rolname = current_user")
        user, superuser, version = cursor.fetchone()
        mode = "SET" if version >= 160000 else "MEMBER"
        roles = set(needs.grantees) | set(needs.acting_roles) | set(needs.owners)
        cursor.execute("SELECT rolname, pg_has_role(current_user, oid, %s) FROM pg_roles"
                       " WHERE rolname = ANY(%s)", [mode, sorted(roles)])
        member = dict(cursor.fetchall())
        cursor.execute("SELECT a.name, coalesce(v.trusted, false), e.extname IS NOT NULL,"
                       " coalesce(pg_get_userbyid(e.extowner), '') FROM unnest(%s::text[]) AS a(name)"
                       " LEFT JOIN pg_available_extension_versions v"
                       "   ON v.name = a.name AND v.version = (SELECT default_version FROM pg_available_extensions"
                       "                                      WHERE name = a.name)"
                       " LEFT JOIN pg_extension e ON e.extname = a.name AND %s", [list(needs.extensions),
                                                                                 not new_database])
        extensions = cursor.fetchall()
        cursor.execute("SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", [list(needs.extensions)])
        available = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT has_database_privilege(current_database(), 'CREATE')")
        can_create = new_database or bool(cursor.fetchone()[0])
    problems: list[Problem] = []
    if not no_owner:
        problems += _role_problems(needs.owners, member, user, superuser, "owns {n} object(s) in the backup",
                                   "pass --no-owner to restore them owned by {user}")
    if not (no_owner or no_acl):
        acting = Counter({role: 1 for role in needs.acting_roles if role not in needs.owners})
        problems += _role_problems(acting, member, user, superuser, "sets default privileges or grants in the backup",
                                   "pass --no-acl to restore without grants")
        for role in sorted(needs.grantees - set(member)):
            problems.append(Problem(f"role {role} is granted privileges in the backup but does not exist on the"
                                    " server", f"create role {role} (CREATE ROLE) or pass --no-acl"))
    for name, trusted, installed, owner in extensions:
        problems += _extension_problem(name, name in available, trusted, installed, owner, user=user,
                                       superuser=superuser, can_create=can_create, database=database,
                                       commented=name in needs.commented_extensions)
    return problems


def _role_problems(roles: Counter[str], member: dict[str, bool], user: str, superuser: bool, what: str,
                   fix: str) -> Iterable[Problem]:
    for role, count in sorted(roles.items()):
        if role == user:
            continue
        said = what.format(n=count)
        if role not in member:
            yield Problem(f"role {role} {said} but does not exist on the server",
                          f"create role {role} (CREATE ROLE) or {fix.format(user=user)}")
        elif not superuser and not member[role]:
            yield Problem(f"role {role} {said} but {user} is not a member of it",
                          f"GRANT {role} TO {user} (as a superuser) or {fix.format(user=user)}")


def _extension_problem(name: str, available: bool, trusted: bool, installed: bool, owner: str, *, user: str,
                       superuser: bool, can_create: bool, database: str, commented: bool) -> list[Problem]:
    if not available:
        return [Problem(f"extension {name} is used by the backup but not installed on the server",
                        f"install the package that provides {name} on the database server")]
    if installed:
        if superuser or owner == user or not commented:
            return []
        return [Problem(f"extension {name} in database {database} is owned by {owner}, not {user}, and the"
                        " backup sets its comment", f"restore as {owner} or as a superuser")]
    if superuser:
        return []
    if not trusted:
        return [Problem(f"extension {name} is not trusted, so only a superuser can create it",
                        "restore as a superuser")]
    if not can_create:
        return [Problem(f"extension {name} must be created and {user} lacks CREATE on database {database}",
                        f"GRANT CREATE ON DATABASE {database} TO {user}")]
    return []


def installed_extensions(connection: Any) -> dict[str, str]:
    """name -> version of every extension installed in the database of `connection`, for the manifest (F4)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname, extversion FROM pg_extension ORDER BY extname")
        return {name: version for name, version in cursor.fetchall()}


def extension_version_problems(connection: Any, recorded: dict[str, str], needs: ArchiveNeeds) -> list[Problem]:
    """Extensions the manifest recorded at a version the server of `connection` does not offer (F4).

    pg_dump writes `CREATE EXTENSION` without a version, so the restore gets the
    server's default version: a different one from the backup's, whose objects
    may differ. An extension the server lacks entirely is named by
    missing_privileges() when the archive creates it, so it is skipped here.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, version FROM pg_available_extension_versions WHERE name = ANY(%s)"
                       " ORDER BY name, version", [sorted(recorded)])
        offered: dict[str, list[str]] = {}
        for name, version in cursor.fetchall():
            offered.setdefault(name, []).append(version)
    problems = []
    for name, version in sorted(recorded.items()):
        versions = offered.get(name)
        if not versions:
            if name not in needs.extensions:
                problems.append(Problem(f"extension {name} {version} was installed when the backup was taken but"
                                        " is not installed on the server",
                                        f"install the package that provides {name} on the database server"))
        elif version not in versions:
            problems.append(Problem(f"extension {name} was version {version} when the backup was taken but the"
                                    f" server offers only {', '.join(versions)}",
                                    f"install {name} {version} on the database server, or pass"
                                    " --any-extension-version to restore with the server's default version"))
    return problems
