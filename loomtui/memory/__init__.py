"""Shared context memory, retrieval and the MCP server (issue 6). Nothing here yet."""
