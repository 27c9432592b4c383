"""Diff viewer benchmark: opening and scrolling a 50,000-line diff.

    python bench/diff_view.py            # 50,000-line patch vs a 50-line one, 300 steps each
    python bench/diff_view.py --steps 60

The console's `DiffView` runs in a headless Textual app at 160x48. For each step (a key:
j, pagedown, pageup, n, end, home in a fixed mix) the frame time is the key's action plus
the screen update that follows it: the screen's update timer (layout and compositor, timed
by wrapping `Screen._on_timer_update`, as bench/fleet.py does: Textual internals, re-check
on upgrades) and the rendering of its output to terminal text (`App._display` wrapped, the
text a real terminal would get). The same steps on a 50-line patch run in the same process
as the reference: the difference is what the patch's size costs. "Key to idle" is the whole
`pilot.press` + `pilot.pause()`, harness included. Opening is `show_patch` plus the first
frame. The count of lines rendered shows that only the visible screen is drawn.

Target: frame p95 <= 50 ms on the 50,000-line diff.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.app import App  # noqa: E402

from loomtui.tui.widgets.diff_view import DiffView  # noqa: E402

KEYS = ["j"] * 6 + ["pagedown"] * 6 + ["n"] * 2 + ["k"] * 2 + ["pageup", "end", "home"]


def patch(lines: int) -> str:
    out = ["diff --git a/src/big.py b/src/big.py", "index 1111111..2222222 100644",
           "--- a/src/big.py", "+++ b/src/big.py"]
    n = 0
    while n < lines:
        out.append(f"@@ -{n + 1},40 +{n + 1},40 @@ def block_{n}(x):")
        for i in range(40):
            kind = "+" if i % 7 == 3 else "-" if i % 11 == 5 else " "
            out.append(f"{kind}    value_{n + i} = compute(x, {n + i})  # line {n + i}")
        n += 41
    return "\n".join(out[:lines]) + "\n"


class Viewer(App):
    def compose(self):
        yield DiffView(id="view")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


WORK: list[float] = []  # ms of screen updates and output since the last step began


def patch_textual() -> None:
    from textual.screen import Screen

    update = Screen._on_timer_update

    def timed(screen) -> None:
        start = time.perf_counter()
        update(screen)
        WORK.append((time.perf_counter() - start) * 1000)

    Screen._on_timer_update = timed


async def measure(text: str, steps: int) -> dict:
    from textual._compositor import CompositorUpdate

    app = Viewer()
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.query_one(DiffView)
        display = app._display

        def timed_display(screen, renderable) -> None:
            start = time.perf_counter()
            display(screen, renderable)
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # the terminal text
            WORK.append((time.perf_counter() - start) * 1000)

        app._display = timed_display
        rendered = [0]
        original = view._render_row

        def counting(row, width, base):
            rendered[0] += 1
            return original(row, width, base)

        view._render_row = counting
        view.focus()
        await pilot.pause()
        WORK.clear()
        start = time.perf_counter()
        view.show_patch("src/big.py", text)
        opening = (time.perf_counter() - start) * 1000
        await pilot.pause()
        open_ms = opening + sum(WORK)
        rendered_on_open = rendered[0]
        frames, idle = [], []
        actions = {"j": view.action_cursor_down, "k": view.action_cursor_up,
                   "pagedown": view.action_page_down, "pageup": view.action_page_up,
                   "n": lambda: view.action_hunk(1), "end": view.action_last,
                   "home": view.action_first}
        for i in range(steps):
            key = KEYS[i % len(KEYS)]
            await pilot.pause()
            WORK.clear()
            t0 = time.perf_counter()
            actions[key]()  # the key's handler, timed alone
            acted = (time.perf_counter() - t0) * 1000
            await pilot.pause()  # the frame that shows it (timed by the wrappers)
            frames.append(acted + sum(WORK))
            t1 = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            idle.append((time.perf_counter() - t1) * 1000)
        return {"lines": len(view.lines), "open_ms": open_ms, "frames": frames, "idle": idle,
                "rendered_on_open": rendered_on_open, "rendered_total": rendered[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    patch_textual()
    big = asyncio.run(measure(patch(args.lines), args.steps))
    small = asyncio.run(measure(patch(50), args.steps))
    print(f"# diff viewer, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"{'':28}{'50,000-line diff':>18}{'50-line diff':>16}")
    print(f"{'lines':28}{big['lines']:>18,}{small['lines']:>16,}")
    print(f"{'open to first frame, ms':28}{big['open_ms']:>18.1f}{small['open_ms']:>16.1f}")
    for q in (50, 95, 99):
        print(f"{f'step frame p{q}, ms':28}{percentile(big['frames'], q):>18.1f}"
              f"{percentile(small['frames'], q):>16.1f}")
    print(f"{'frame max, ms':28}{max(big['frames']):>18.1f}{max(small['frames']):>16.1f}")
    print(f"{'key to idle p95 (harness), ms':28}{percentile(big['idle'], 95):>18.1f}"
          f"{percentile(small['idle'], 95):>16.1f}")
    print(f"{'lines rendered on open':28}{big['rendered_on_open']:>18}{small['rendered_on_open']:>16}")
    print(f"{'lines rendered, all steps':28}{big['rendered_total']:>18}{small['rendered_total']:>16}")
    p95 = percentile(big["frames"], 95)
    print(f"target: frame p95 <= 50 ms on the big diff: {'met' if p95 <= 50 else 'NOT met'} "
          f"({p95:.1f} ms; mean {statistics.mean(big['frames']):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
