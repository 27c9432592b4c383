"""FleetCommands: the console's entries in the command palette (ctrl+p)."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.messages import AgentSelected, FleetFilterChosen, FleetSortChosen


class FleetCommands(Provider):
    """Open an agent, sort, filter by status, switch theme. The fleet's commands are
    messages to the app (loomtui/tui/messages.py), which opens the agent or hands the
    sort and filter to the fleet."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        commands: list[tuple[str, object, str]] = []
        state = app.pod_state
        if state is not None:
            for agent in sorted(state.agents, key=lambda a: a.name):
                commands.append((f"Open agent {printable(agent.name)}",
                                 partial(app.post_message, AgentSelected(agent.id)),
                                 f"{printable(agent.kind)} · {model.place(agent)} · {state.status_of(agent)}"))
        for mode in model.SORT_MODES:
            commands.append((f"Sort fleet by {model.SORT_LABELS[mode]}",
                             partial(app.post_message, FleetSortChosen(mode)), "s: next sort, r reverses"))
        for status in ("waiting", "working", "stalled", "error", "idle", "done"):
            commands.append((f"Show {status} agents", partial(app.post_message, FleetFilterChosen(status)),
                             "sets the fleet filter"))
        commands.append(("Clear fleet filter", partial(app.post_message, FleetFilterChosen("")), ""))
        commands.append(("Next agent that needs a human", app.action_next_need, "n"))
        commands.append(("Reverse the fleet's sort", partial(app.post_message, FleetSortChosen("reverse")), "r"))
        commands.append(("Open the approvals inbox", app.action_approvals, "i"))
        commands.append(("Open the audit log", app.action_audit, "L"))
        commands.append(("Cycle theme", app.action_cycle_theme, "T"))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            # A str display and the help are markup to Textual; agents' names are plain text.
            yield DiscoveryHit(Text(name), callback, text=name, help=escape(help_text))  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name,  # type: ignore[arg-type]
                          help=escape(help_text))
