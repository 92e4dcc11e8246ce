"""`usertrack mcp`: the MCP server an AI assistant asks instead of querying PostHog and the app's
database by hand (docs/mcp.md).

- `server`: the tools, one per command, their arguments read from the commands' own options,
  and the answers;
- `arguments`: what a tool's arguments may be (bounded, never a file or a folder);
- `answers`: answers and errors with the data written by strangers marked as data;
- `prompts`: the server's instructions and prompts;
- `wire`: the JSON-RPC lines checked before the SDK reads them (every request answered);
- `workers`: the worker processes that run the calls, each bounded as a command is.
"""
