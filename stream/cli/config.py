"""``ecg-stream config``: the effective settings, and the configuration reference for the docs."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from stream.cli.base import emit, json_option
from stream.cli.settings_help import settings_epilog
from stream.redact import MASK, redact_urls
from stream.settings import Settings

__all__ = ["MASK", "config", "effective", "reference_markdown", "reference_rows"]


def _show(value: Any) -> str:
    """A setting's value as shown: secrets and passwords inside URLs masked."""
    if isinstance(value, SecretStr):
        return MASK
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        home = str(Path.home())
        text = str(value)
        return "~" + text[len(home):] if text.startswith(home + "/") else text
    return redact_urls(str(value))


def _choices(annotation: Any) -> list[str]:
    """The allowed values of a ``Literal`` (or ``Literal | None``) annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    return [c for arg in typing.get_args(annotation) for c in _choices(arg)]


def reference_rows() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) of every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        meaning = field.description or ""
        choices = _choices(field.annotation)
        if choices and not all(c in meaning for c in choices):
            meaning += f" ({' / '.join(choices)})"
        rows.append((f"ECG_{name.upper()}", _show(field.default), meaning))
    return rows


def reference_markdown() -> str:
    """The configuration reference as a Markdown table (kept in docs/configuration.md)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{var}` | `{default}` | {text} |" for var, default, text in reference_rows()]
    return "\n".join(lines) + "\n"


def effective(settings: Settings) -> dict[str, str]:
    """Every setting's effective value by environment variable; secrets masked.

    Masked: the secret settings, and the password of any URL (``redis://:PW@host``).
    """
    return {f"ECG_{name.upper()}": _show(getattr(settings, name)) for name in Settings.model_fields}


@click.command("config", epilog=settings_epilog("config"))
@click.option("--reference", is_flag=True,
              help="Print the configuration reference (Markdown: variable, default, meaning).")
@json_option("Machine-readable output.")
@click.pass_obj
def config(settings: Settings, reference: bool, as_json: bool) -> None:
    """Show the effective settings (environment and options applied; secrets masked).

    \b
    Examples:
      ecg-stream config
      ECG_BATCH_SIZE=128 ecg-stream config --json
      ecg-stream config --reference > docs/configuration-table.md
    """
    if reference:
        click.echo(reference_markdown(), nl=False)
        return
    emit(effective(settings), as_json)
