"""Repair and tidy the migration graph: conflicts moved into line, max_migration.txt, safe squashing.

- `conflicts`: move one branch's migrations after the main line's (or Django's merge migration);
- `maxfile`: `<app>/migrations/max_migration.txt`, written and checked;
- `squash`: Django's squashmigrations with the range checked against every database, and the
  finishing step that removes the replaced migrations;
- `source`: the byte-exact file edits they share; `databases`: what each database has applied;
- `branch`: which side of a conflict is the branch (git, then file times).
"""
