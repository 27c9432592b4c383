"""`python -m loomtui` is the same as the `loomtui` command."""

from loomtui.cli import main

raise SystemExit(main())
