"""Deploy phases: which planned migrations wait for `pilot deploy --phase post` (see analysis/phases.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migration_pilot.analysis.phases import CONTRACT_RULES, POST, PRE, phase_of
from migration_pilot.types import MigrationKey

__all__ = ["CONTRACT_RULES", "POST", "PRE", "phase_of", "post_deploy_keys"]


def post_deploy_keys(keys: Sequence[MigrationKey], graph: Any) -> set[MigrationKey]:
    """The planned migrations that must wait for the post-deploy phase: marked post, or depending on one."""
    waiting: set[MigrationKey] = set()
    for key in keys:  # plan order: a migration's dependencies come before it
        if phase_of(graph.nodes[key]) == POST or any(p.key in waiting for p in graph.node_map[key].parents):
            waiting.add(key)
    return waiting
