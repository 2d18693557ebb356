"""`motcua schema`: the JSON Schema of the procedure language, for editors.

Generated from the pydantic models (motcua/workflows/dsl/model.py), so it never drifts from
what the loader accepts. It is written as JSON Schema draft-07, the draft the VS Code YAML
extension (yaml-language-server) supports fully: `definitions` instead of `$defs`. Two
things the bare pydantic export would get wrong for an editor are fixed here:

- every step alternative requires its kind key (`compensate:` has a default in the model),
  so the `oneOf` of steps picks exactly one kind and completion offers the right keys;
- durations accept `'30s'`, `'5m'`, `'2h'`, `'3d'` as well as a number of seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from motcua.workflows.dsl.model import STEP_KINDS, ProcedureDefinition, parse_duration

DRAFT = "http://json-schema.org/draft-07/schema#"
DEFAULT_ID = "urn:motcua:schema:procedure"
TITLE = "motcua procedure definition"
DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
    ],
    "description": "A duration: seconds, or a string such as '30s', '5m', '2h', '3d'",
}


class _LanguageSchema(GenerateJsonSchema):
    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        if schema["function"]["function"] is parse_duration:
            return dict(DURATION_SCHEMA)
        return super().function_before_schema(schema)


def _to_draft07(node: Any) -> Any:
    if isinstance(node, dict):
        out = {("definitions" if k == "$defs" else k): _to_draft07(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = "#/definitions/" + ref.removeprefix("#/$defs/")
        return out
    if isinstance(node, list):
        return [_to_draft07(v) for v in node]
    return node


def build_schema(schema_id: str = DEFAULT_ID) -> dict[str, Any]:
    """The JSON Schema (draft-07) of a procedure definition file."""
    generated = ProcedureDefinition.model_json_schema(
        by_alias=True, schema_generator=_LanguageSchema
    )
    defs = generated.get("$defs", {})
    for kind, cls in STEP_KINDS.items():
        step = defs[cls.__name__]
        required = step.setdefault("required", [])
        if kind not in required:
            required.append(kind)
    body = _to_draft07(generated)
    body.pop("title", None)
    return {"$schema": DRAFT, "$id": schema_id, "title": TITLE, **body}


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the schema to this file instead of standard output.",
)
@click.option(
    "--id",
    "schema_id",
    default=DEFAULT_ID,
    show_default=True,
    help="The schema's $id, e.g. the URL where you publish it.",
)
def schema(output: Path | None, schema_id: str) -> None:
    """Write the JSON Schema of the procedure language.

    Point an editor at it; with the VS Code YAML extension put this first line in a
    procedure file:

    \b
        # yaml-language-server: $schema=../procedure.schema.json
    """
    text = json.dumps(build_schema(schema_id), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from None
    click.echo(f"wrote {output}", err=True)
