"""The CLI reference page, generated from the commands' own help so that it cannot drift.

Used two ways:

- as a MkDocs hook (`hooks:` in mkdocs.yml): at build time it adds `cli.md` to the site;
- as a script: `python docs/gen_cli_reference.py` prints the same markdown.

It walks the Click group that Typer builds from `clipground.cli.app` (sub-groups such as `cache`
included), so a new command or option appears without editing this file. Every line of text comes
from the help that `clipground COMMAND --help` prints: the docstring, the usage line, and each
parameter's help record (its names, metavar, help text and default).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

PAGE = "cli.md"
TITLE = "CLI reference"
INTRO = (
    "Generated from the commands' own `--help` when the docs are built "
    "(`docs/gen_cli_reference.py`); `clipground COMMAND --help` prints the same text.\n\n"
    "Every command writes data only to stdout (JSON, or JSON lines for many results) and progress, "
    "warnings and errors to stderr. See [JSON output](json.md) for the records and "
    "[Troubleshooting](troubleshooting.md#exit-codes) for the exit codes."
)


def root_command() -> Any:
    """The Click group behind the `clipground` command (imported late: only the build needs it)."""
    import typer.main

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # a checkout that is not installed still documents its own CLI
        sys.path.insert(0, root)
    from clipground.cli import app

    return typer.main.get_command(app)


def render() -> str:
    """The whole page as markdown."""
    group = root_command()
    ctx = group.context_class(group, info_name="clipground")
    lines = [f"# {TITLE}", "", INTRO, ""]
    lines += _command_section(group, ctx, level=2)
    return "\n".join(lines).rstrip() + "\n"


def _command_section(command: Any, ctx: Any, level: int) -> list[str]:
    """One command's heading, help, usage and parameters; then its sub-commands, one level down."""
    lines = [f"{'#' * level} `{ctx.command_path}`", ""]
    text = _help_text(command)
    if text:
        lines += [text, ""]
    lines += ["```", ctx.get_usage(), "```", ""]
    lines += _parameter_table(command, ctx)
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
        lines += _command_section(sub, sub_ctx, level + 1)
    return lines


def _help_text(command: Any) -> str:
    """The command's help as Click prints it: paragraphs kept, lines within one rejoined."""
    raw = inspect.cleandoc(command.help or "")
    paragraphs = [" ".join(p.replace("\b", "").split()) for p in raw.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _parameter_table(command: Any, ctx: Any) -> list[str]:
    """A markdown table of the parameters' help records (what `--help` lists, in its order)."""
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        names, help_text = record
        kind = "argument" if param.param_type_name == "argument" else "option"
        rows.append(f"| `{_cell(names)}` | {kind} | {_cell(help_text)} |")
    if not rows:
        return []
    return ["| parameter | kind | help |", "|---|---|---|", *rows, ""]


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell (and inside a code span there)."""
    return " ".join(text.split()).replace("|", "\\|")


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated page to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


if __name__ == "__main__":
    print(render(), end="")
