"""One module per command of the command line; `cli.py` imports them lazily."""
