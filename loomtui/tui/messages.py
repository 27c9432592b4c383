"""Messages more than one part of the console posts or handles. A message only one
widget posts lives in that widget's class (InboxTable.MarksChanged, ...)."""

from __future__ import annotations

from textual.message import Message
from textual.worker import Worker


class AgentSelected(Message):
    """An agent was chosen (the fleet's enter, the command palette): the app opens it."""

    def __init__(self, agent_id: int) -> None:
        super().__init__()
        self.agent_id = agent_id


class WorkerFailed(Message):
    """A screen's worker failed: sent on to the app, which handles every worker's failure
    in one place (a worker's own StateChanged does not bubble)."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker


class FleetSortChosen(Message):
    """A sort for the fleet was chosen in the command palette ("reverse": the one in force,
    the other way round)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode


class FleetFilterChosen(Message):
    """A filter for the fleet was chosen in the command palette ("" clears it)."""

    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query
