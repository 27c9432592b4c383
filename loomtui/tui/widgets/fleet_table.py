"""FleetTable: the Fleet screen's agents, one row each, keyed by agent id.

Bindings: those of KeyedTable (j/k, pgup/pgdn, home/end, enter opens).
"""

from __future__ import annotations

from loomtui.tui.widgets.keyed_table import Column, KeyedTable

__all__ = ["Column", "FleetTable"]


class FleetTable(KeyedTable):
    """The agents. j/k move, enter opens the agent."""

    @property
    def cursor_agent_id(self) -> int | None:
        return self.cursor_id
