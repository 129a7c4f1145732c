"""CLI commands beyond the core: each module here defines its command with `@main.command()`.

Keep framework imports inside the command functions: `netc validate` imports every module here.
"""
