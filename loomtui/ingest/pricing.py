"""Per-token prices and the cost of a usage record, computed as ccusage --offline computes it.

Stdlib only (json + pathlib); no store, no textual/rich. The bundled table is `prices.json` next
to this module (package data), in LiteLLM's `model_prices_and_context_window.json` shape: one
object per model name with `input_cost_per_token`, `output_cost_per_token`,
`cache_creation_input_token_cost`, `cache_read_input_token_cost`, ... Keys starting with `_`
(e.g. `_source`, which says where the figures came from) are not models and are ignored. A pod
may hold its own `prices.json` (same shape): each entry there replaces the bundled entry of that
name whole (no merging of fields) or adds a model.

The rules, taken from ccusage 20.0.24 (`ccusage claude|codex session --json --offline`; its
Rust source `pricing.rs` / `cost.rs`, and measured against its binary):

- Fields a LiteLLM entry leaves out: cache writes cost `input * 1.25`, cache reads
  `input * 0.1`, 1-hour cache writes `input * 2` (ccusage prices every 1-hour write at twice
  the input rate; our table also spells that out as `cache_creation_input_token_cost_above_1hr`,
  which wins when present). An entry must have `input_cost_per_token` and
  `output_cost_per_token`.
- `*_above_200k_tokens` tiers apply per record *and per token type*: of one record's N input
  tokens the first 200,000 cost the base rate and the rest the `_above_200k_tokens` rate; the
  same, separately, for output, cache reads, 5-minute cache writes and 1-hour cache writes
  (`cache_creation_input_token_cost_above_1hr_above_200k_tokens`, else twice
  `input_cost_per_token_above_200k_tokens`). A type without an above-200k rate is flat.
- `tiered_pricing` (LiteLLM's list of `{"range": [lo, hi], <rates>}`; ccusage's models.dev
  "context" tiers, e.g. GPT-5.4/5.5 above 272k, Gemini 2.5 Pro above 200k) prices the whole
  record at the tier's rates when its context (input + cache reads + cache writes; output does
  not count) is above `lo` (and at most `hi`, when not null). Rates a tier leaves out are the
  entry's base rates, except 1-hour writes, which are twice the tier's input rate.
- Fast mode (`speed == "fast"`): the whole record's cost times the entry's
  `provider_specific_entry.fast` (1 when absent). ccusage only *labels* such rows
  `<model>-fast`; it prices them with the base model's entry and this multiplier (6 for Opus
  4.6/4.7, 2 for Opus 4.8, 2.5 for GPT-5.5, ...).
- Codex records already carry non-cached input as `input_tokens` and cached input as
  `cache_read_tokens`, so the same formula prices them as ccusage does.
- Names: exact; then the name with a provider prefix (`anthropic/`, `openai/`, `gemini/`,
  ...) when the table is keyed that way; then ccusage's match of a known name *inside* the
  given one at separator boundaries, `.` and `@` read as `-` (the longest known name wins;
  shorter ties go to the alphabetically first). So `anthropic/claude-opus-4-6`,
  `us.anthropic.claude-opus-4-6-v1`, `claude-sonnet-4-5-20250929[1m]`,
  `claude-sonnet-4-5-20991231` (an 8-digit date suffix) and `claude-opus-4.6` find their
  models, while a different version (`claude-opus-4-9`, `gpt-5.9`: the known name followed by
  `-<digits>` or `.<digits>`) does not.

Deviations from ccusage, on purpose:
- a model the table lacks has no cost here (`cost` is None; `price` says "reported" or
  "unpriced"); ccusage counts it as $0. ccusage's `auto` mode also prefers a line's own
  `costUSD` over the table; here the table wins and the reported figure is the fallback.
- ccusage also matches a given name that is only *part* of a known one (`opus`,
  `claude-sonnet`) to some longer entry: a guess, so not done here (unknown -> None).
- ccusage's full LiteLLM/models.dev snapshots hold hundreds of other models (and odd matches,
  e.g. it prices `o3` at $0.55/M input); the bundled table holds the Claude, GPT-5 / Codex and
  Gemini entries as ccusage prices them, and nothing else. `claude-opus-4-0` /
  `claude-sonnet-4-0` / `codex-mini-latest`, which ccusage prices at $0, are not in it.
- prefixed names take the bare model's entry (with its tiers and fast multiplier); ccusage
  sometimes picks a different snapshot entry for them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loomtui.ingest.records import UsageRecord

BUNDLED_PATH = Path(__file__).with_name("prices.json")
OVERRIDE_NAME = "prices.json"  # inside the pod directory
TIER_THRESHOLD = 200_000
PROVIDER_PREFIXES = ("anthropic/", "openai/", "gemini/", "vertex_ai/", "bedrock/", "azure/",
                     "openrouter/", "openrouter/anthropic/", "openrouter/openai/",
                     "openrouter/google/")
DATE_SUFFIX_DIGITS = 8  # Anthropic's -YYYYMMDD aliases

_INPUT = "input_cost_per_token"
_OUTPUT = "output_cost_per_token"
_WRITE = "cache_creation_input_token_cost"
_WRITE_1H = "cache_creation_input_token_cost_above_1hr"
_READ = "cache_read_input_token_cost"
_ABOVE = "_above_200k_tokens"
_RATE_FIELDS = (_INPUT, _OUTPUT, _WRITE, _WRITE_1H, _READ)
_NUMBER_FIELDS = _RATE_FIELDS + tuple(f + _ABOVE for f in _RATE_FIELDS)

_bundled_cache: dict[str, dict] | None = None


class PriceError(Exception):
    """A price file that cannot be used: unreadable, not JSON, or not in the expected shape.
    The message names the file and the problem."""


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= 0 and (isinstance(value, int) or math.isfinite(value))


def _check_rates(obj: dict, where: str) -> None:
    for field in _NUMBER_FIELDS:
        value = obj.get(field)
        if value is not None and not _is_number(value):
            raise PriceError(f"{where}: {field} must be a non-negative number, not {value!r}")


def _check_entry(name: str, entry: object, source: str) -> dict:
    where = f"{source}: model {name!r}"
    if not isinstance(entry, dict):
        raise PriceError(f"{where}: expected an object of prices, not {type(entry).__name__}")
    for field in (_INPUT, _OUTPUT):
        if not _is_number(entry.get(field)):
            raise PriceError(f"{where}: {field} must be a non-negative number "
                             f"(got {entry.get(field)!r})")
    _check_rates(entry, where)
    tiers = entry.get("tiered_pricing")
    if tiers is not None:
        if not isinstance(tiers, list):
            raise PriceError(f"{where}: tiered_pricing must be a list")
        for n, tier in enumerate(tiers):
            rng = tier.get("range") if isinstance(tier, dict) else None
            if (not isinstance(rng, list) or len(rng) != 2 or not _is_number(rng[0])
                    or not (rng[1] is None or _is_number(rng[1]))):
                raise PriceError(f"{where}: tiered_pricing[{n}] needs a \"range\": [low, high "
                                 f"or null]")
            _check_rates(tier, f"{where}: tiered_pricing[{n}]")
    extra = entry.get("provider_specific_entry")
    if extra is not None:
        if not isinstance(extra, dict):
            raise PriceError(f"{where}: provider_specific_entry must be an object")
        fast = extra.get("fast")
        if fast is not None and not _is_number(fast):
            raise PriceError(f"{where}: provider_specific_entry.fast must be a non-negative "
                             f"number, not {fast!r}")
    window = entry.get("max_input_tokens")
    if window is not None and not (_is_number(window) and window == int(window)):
        raise PriceError(f"{where}: max_input_tokens must be a whole number, not {window!r}")
    return entry


def _parse_file(path: Path) -> dict[str, dict]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PriceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PriceError(f"{path}: not valid JSON: {exc}") from None
    return _check_table(data, str(path))


def _check_table(data: object, source: str) -> dict[str, dict]:
    if not isinstance(data, dict):
        raise PriceError(f"{source}: expected a JSON object of model entries, "
                         f"not {type(data).__name__}")
    return {name: _check_entry(name, entry, source) for name, entry in data.items()
            if not name.startswith("_")}


def _bundled() -> dict[str, dict]:
    """The package's table, parsed once per process (never mutated)."""
    global _bundled_cache
    if _bundled_cache is None:
        _bundled_cache = _parse_file(BUNDLED_PATH)
    return _bundled_cache


# ---------------------------------------------------------------------------- rates


class _Rates:
    """One entry's rates, resolved once: base per type, above-200k per type (or None),
    context tiers, fast multiplier."""

    __slots__ = ("above", "base", "fast", "tiers")

    def __init__(self, entry: dict) -> None:
        self.base = _resolve_rates(entry, None)
        inp_above = entry.get(_INPUT + _ABOVE)
        self.above = (
            inp_above,
            entry.get(_OUTPUT + _ABOVE),
            entry.get(_WRITE + _ABOVE),
            entry.get(_WRITE_1H + _ABOVE,
                      2 * inp_above if inp_above is not None else None),
            entry.get(_READ + _ABOVE),
        )
        tiers = []
        for tier in entry.get("tiered_pricing") or ():
            low, high = tier["range"]
            tiers.append((low, high, _resolve_rates(tier, self.base)))
        tiers.sort(key=lambda t: t[0], reverse=True)
        self.tiers = tiers
        extra = entry.get("provider_specific_entry")
        fast = extra.get("fast") if isinstance(extra, dict) else None
        self.fast = 1.0 if fast is None else fast


def _resolve_rates(obj: dict, base: tuple | None) -> tuple[float, float, float, float, float]:
    """(input, output, 5-minute write, 1-hour write, read) for an entry (`base` None: missing
    rates get LiteLLM's / ccusage's defaults) or for a tier (missing rates are `base`'s, but
    1-hour writes are twice the tier's input rate)."""
    inp, out, write, write_1h, read = (obj.get(f) for f in _RATE_FIELDS)
    if base is None:
        return (inp, out,
                write if write is not None else inp * 1.25,
                write_1h if write_1h is not None else inp * 2,
                read if read is not None else inp * 0.1)
    inp = inp if inp is not None else base[0]
    return (inp,
            out if out is not None else base[1],
            write if write is not None else base[2],
            write_1h if write_1h is not None else inp * 2,
            read if read is not None else base[4])


def _standard_length(entry: dict) -> int | None:
    """The context length past which the entry's prices rise (its standard window when it
    has a longer opt-in one), or None when its prices do not depend on the context."""
    starts = [int(t["range"][0]) for t in entry.get("tiered_pricing") or () if t["range"][0]]
    if entry.get(_INPUT + _ABOVE) is not None:
        starts.append(TIER_THRESHOLD)
    return min(starts, default=None)


def _split(tokens: int, rate: float, above: float | None) -> float:
    """ccusage's `tiered_cost`: the first 200k tokens at `rate`, the rest at `above`."""
    if tokens <= 0:
        return 0.0
    if above is not None and tokens > TIER_THRESHOLD:
        return TIER_THRESHOLD * rate + (tokens - TIER_THRESHOLD) * above
    return tokens * rate


# ---------------------------------------------------------------------------- names


def _norm(name: str) -> str:
    return name.replace(".", "-").replace("@", "-")


def _suffix_ok(key: str, suffix: str) -> bool:
    """ccusage: after the known name comes the end or a separator, but not `-<digits>` /
    `.<digits>` continuing a version number (an 8-digit date is fine)."""
    if not suffix:
        return True
    if suffix[0].isalnum():
        return False
    if not key[-1:].isdigit() or suffix[0] not in "-.":
        return True
    rest = suffix[1:]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if digits == 0:
        return True
    after = rest[digits:digits + 1]
    return digits == DATE_SUFFIX_DIGITS and (not after or not after.isalnum())


def _contains(name: str, key: str) -> bool:
    """`key` occurs in `name` at a boundary (ccusage's `contains_pricing_key`)."""
    start = name.find(key)
    while start >= 0:
        before = name[start - 1:start]
        if (not before or not before.isalnum()) and _suffix_ok(key, name[start + len(key):]):
            return True
        start = name.find(key, start + 1)
    return False


class PriceTable:
    """Model name -> LiteLLM-shaped entry, and the cost of usage records."""

    __slots__ = ("_entries", "_norm_keys", "_rates", "_resolved")

    def __init__(self, entries: dict[str, dict], *, source: str = "<prices>") -> None:
        """A table of the given entries only (checked; PriceError names `source`)."""
        self._set(_check_table(entries, source))

    def _set(self, entries: dict[str, dict]) -> None:
        self._entries = entries
        self._norm_keys = [(_norm(k), k) for k in entries]
        self._resolved: dict[str, str | None] = {}
        self._rates: dict[str, _Rates] = {}

    @classmethod
    def load(cls, pod: Path | None = None) -> PriceTable:
        """The bundled table, with `<pod>/prices.json` (when there is one) replacing or adding
        whole model entries. Raises PriceError for an override file that cannot be used."""
        entries = dict(_bundled())
        if pod is not None:
            path = Path(pod) / OVERRIDE_NAME
            if path.exists() or path.is_symlink():  # a dangling link is an error, not "none"
                entries.update(_parse_file(path))
        table = cls.__new__(cls)
        table._set(entries)
        return table

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self._key(model) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def models(self) -> list[str]:
        return sorted(self._entries)

    def _key(self, model: str) -> str | None:
        try:
            return self._resolved[model]
        except KeyError:
            pass
        key = self._find(model)
        self._resolved[model] = key
        return key

    def _find(self, model: str) -> str | None:
        if not isinstance(model, str) or not model.strip():
            return None
        entries = self._entries
        if model in entries:
            return model
        for prefix in PROVIDER_PREFIXES:
            if prefix + model in entries:
                return prefix + model
        name = _norm(model.strip())
        best: tuple[int, str] | None = None
        for norm_key, key in self._norm_keys:
            if len(norm_key) > len(name) or (best is not None and len(norm_key) < best[0]):
                continue
            if (best is None or len(norm_key) > best[0] or key < best[1]) and _contains(
                    name, norm_key):
                best = (len(norm_key), key)
        return best[1] if best else None

    def lookup(self, model: str) -> dict | None:
        """The entry for a model name as agents write it, or None when the table does not
        know the model (never a guess from another model family). Read-only."""
        key = self._key(model)
        return None if key is None else self._entries[key]

    def context_window(self, model: str, used: int | None = None) -> int | None:
        """The model's context window: `max_input_tokens`, the largest it can have. Given
        `used`, the tokens of a context seen, the window that context sits in: a model priced
        higher above some context length (an above-200k rate, or a `tiered_pricing` range
        from a length on) runs at that length unless the session opted into its long window
        (Claude Sonnet 4/4.5's 1M is a beta; GPT-5.4's 1.05M is opt-in), so a context within
        the standard length is measured against it, a longer one proves the long window.
        (Against the largest window, Claude Code's Sonnet at 190k of its 200k read "19%".)"""
        entry = self.lookup(model)
        window = entry.get("max_input_tokens") if entry else None
        if window is None:
            return None
        window = int(window)
        if used is not None:
            standard = _standard_length(entry)
            if standard is not None and standard < window and used <= standard:
                return standard
        return window

    def _rates_for(self, model: str) -> _Rates | None:
        key = self._key(model)
        if key is None:
            return None
        rates = self._rates.get(key)
        if rates is None:
            rates = self._rates[key] = _Rates(self._entries[key])
        return rates

    def cost(self, rec: UsageRecord) -> float | None:
        """USD for one record, or None if the model is unknown."""
        rates = self._rates_for(rec.model)
        if rates is None:
            return None
        write = rec.cache_write_tokens
        write_1h = min(max(rec.cache_write_1h_tokens, 0), write)
        write_5m = write - write_1h
        context = rec.input_tokens + rec.cache_read_tokens + write
        tier = None
        for low, high, tier_rates in rates.tiers:
            if context > low and (high is None or context <= high):
                tier = tier_rates
                break
        if tier is not None:
            inp, out, w5, w1, read = tier
            total = (rec.input_tokens * inp + rec.output_tokens * out + write_5m * w5
                     + write_1h * w1 + rec.cache_read_tokens * read)
        else:
            inp, out, w5, w1, read = rates.base
            a_inp, a_out, a_w5, a_w1, a_read = rates.above
            total = (_split(rec.input_tokens, inp, a_inp)
                     + _split(rec.output_tokens, out, a_out)
                     + _split(write_5m, w5, a_w5)
                     + _split(write_1h, w1, a_w1)
                     + _split(rec.cache_read_tokens, read, a_read))
        if rec.speed == "fast":
            total *= rates.fast
        return total

    def price(self, rec: UsageRecord) -> tuple[float | None, str]:
        """(cost, source): ("table") when the table knows the model; else the agent's own
        figure, ("reported"), when the record has one; else (None, "unpriced")."""
        cost = self.cost(rec)
        if cost is not None:
            return cost, "table"
        if rec.reported_cost_usd is not None:
            return rec.reported_cost_usd, "reported"
        return None, "unpriced"
