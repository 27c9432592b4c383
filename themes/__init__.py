"""Built-in LoomTUI themes (TOML data files, shipped as package data)."""
