"""What the approvals inbox shows, as plain functions: the filter, the shape of a
gated command, groups of alike gates, sorting, and a batch said in words.

Kept free of widgets (like loomtui/tui/model.py) so the rules can be read and tested
on their own; loomtui/tui/screens/approvals.py draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loomtui.policy.shapes import shape as action_shape
from loomtui.store.gates import RISK_RANK, Gate

# -- the call a gate holds --------------------------------------------------------------

_BUDGET_SEPARATOR = " · "  # hooks/gatekeeper.py stores "<budget> · <call>" for budget gates


def is_budget(gate: Gate) -> bool:
    """A gate held because a budget is spent (any call past 100 % waits)."""
    return gate.risk == "budget" or gate.rule.startswith("budget:")


def call_summary(gate: Gate) -> str:
    """The call that waits, in one line and without the tool's name: for a budget gate
    the part after the budget's description (the gatekeeper stores "day budget: $21.40
    of $20.00 (107 %) · git push"), for any other gate its summary."""
    if is_budget(gate) and _BUDGET_SEPARATOR in gate.summary:
        return gate.summary.split(_BUDGET_SEPARATOR, 1)[1]
    return gate.summary


def budget_note(gate: Gate) -> str:
    """Why a budget gate waits ("day budget: $21.40 of $20.00 (107 %)"); "" for others."""
    if is_budget(gate) and _BUDGET_SEPARATOR in gate.summary:
        return gate.summary.split(_BUDGET_SEPARATOR, 1)[0]
    return gate.rule if is_budget(gate) else ""


# -- the shape of an action -------------------------------------------------------------


def shape(gate: Gate) -> str:
    """The gate's action with what varies from one call to the next replaced by `*`
    (`git push --force origin cart` -> `git push --force origin *`): gates of one shape
    and one rule are decided alike, so the inbox groups them. The rules are
    loomtui.policy.shapes.shape's, which grants use too."""
    return action_shape(gate.tool, gate.action)


# -- the filter ---------------------------------------------------------------------------

FIELDS = ("agent", "repo", "rule", "risk", "tool", "command")


@dataclass(frozen=True)
class GateFilter:
    """A query: free words, each matching any field, and `field:word` terms (agent:,
    repo:, rule:, risk:, tool:, command:) matching that field; all must match, case
    ignored, as substrings. `risk:high` matches the risk exactly."""

    words: tuple[str, ...] = ()
    terms: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, query: str) -> GateFilter:
        words, terms = [], []
        for token in query.lower().split():
            field, colon, value = token.partition(":")
            if colon and field in FIELDS and value:
                terms.append((field, value))
            elif colon and field in FIELDS:
                continue  # `rule:` being typed: matches everything for now
            else:
                words.append(token)
        return cls(tuple(words), tuple(terms))

    def __bool__(self) -> bool:
        return bool(self.words or self.terms)

    def matches(self, gate: Gate, repo: str) -> bool:
        """Whether `gate` (whose agent works in `repo · branch`) passes the filter."""
        if not self:
            return True
        fields = {
            "agent": (gate.agent_name or "").lower(),
            "repo": repo.lower(),
            "rule": gate.rule.lower(),
            "risk": gate.risk.lower(),
            "tool": gate.tool.lower(),
            "command": f"{gate.summary}\n{_command_text(gate)}".lower(),
        }
        for field, value in self.terms:
            if field == "risk":
                if fields["risk"] != value:
                    return False
            elif value not in fields[field]:
                return False
        everything = "\n".join(fields.values())
        return all(word in everything for word in self.words)


def _command_text(gate: Gate) -> str:
    """The whole command (or file) the gate holds: summaries are one line, cut."""
    action = gate.action or {}
    for key in ("command", "file_path", "notebook_path", "url", "pattern"):
        if isinstance(action.get(key), str):
            return action[key]
    return ""


# -- groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Gates of one rule and one shape, in the inbox's order."""

    rule: str
    shape: str
    gates: tuple[Gate, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.shape)

    @property
    def risk(self) -> str:
        """The worst risk among its gates (they usually share one)."""
        return min((g.risk for g in self.gates), key=lambda r: RISK_RANK.get(r, len(RISK_RANK)))


def group_gates(gates: Sequence[Gate]) -> list[Group]:
    """The gates by (rule, shape), groups in the order of their first gate: the
    inbox's order (worst risk, oldest first) carries over to its groups."""
    groups: dict[tuple[str, str], list[Gate]] = {}
    for gate in gates:
        groups.setdefault((gate.rule, shape(gate)), []).append(gate)
    return [Group(rule, form, tuple(members)) for (rule, form), members in groups.items()]


# -- sorting ------------------------------------------------------------------------------

SORTABLE = ("risk", "agent", "place", "summary", "age", "expires", "claimed")


def sort_key(column: str, places: Callable[[Gate], str]) -> Callable[[Gate], object]:
    """How gates sort by a column of the inbox. `age` sorts oldest first, as the
    inbox's own order does within a risk."""
    keys: dict[str, Callable[[Gate], object]] = {
        "risk": lambda g: (RISK_RANK.get(g.risk, len(RISK_RANK)), g.created_at),
        "agent": lambda g: ((g.agent_name or "").lower(), g.created_at),
        "place": lambda g: (places(g).lower(), g.created_at),
        "summary": lambda g: (call_summary(g).lower(), g.created_at),
        "age": lambda g: g.created_at,
        "expires": lambda g: g.expires_at,
        "claimed": lambda g: ((g.claimed_by or "\uffff").lower(), g.created_at),
    }
    return keys[column]


# -- a batch, said in words ---------------------------------------------------------------


def describe_batch(gates: Sequence[Gate]) -> str:
    """What a batch decision decides, for its confirmation: "12 gates: git push origin *
    (rule approval-push)"; several kinds are counted, the commonest named."""
    count = f"{len(gates)} gate{'s' if len(gates) != 1 else ''}"
    groups = sorted(group_gates(gates), key=lambda g: -len(g.gates))
    rules = sorted({g.rule for g in gates})
    rule_text = f"rule {rules[0]}" if len(rules) == 1 else f"{len(rules)} rules"
    if len(groups) == 1:
        return f"{count}: {groups[0].shape} ({rule_text})"
    named = ", ".join(f"{g.shape} ×{len(g.gates)}" for g in groups[:2])
    more = f" and {len(groups) - 2} more kinds" if len(groups) > 2 else ""
    return f"{count} of {len(groups)} kinds: {named}{more} ({rule_text})"
