"""The printed schema is a committed artefact; every type and field is described."""

from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from schema.root import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def test_committed_schema_matches_the_code():
    printed = build_schema().as_str() + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == printed, (
        "schema/schema.graphql is out of date: run `bandeng schema --write` and commit it"
    )


def test_every_type_field_and_argument_has_a_description():
    schema = build_schema()._schema
    missing = []
    for name, gql_type in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID", "DateTime"}:
            continue
        if not gql_type.description:
            missing.append(name)
        if isinstance(gql_type, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in gql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description and arg_name not in {"info"}:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(gql_type, GraphQLEnumType) and not gql_type.description:
            missing.append(name)
    assert not missing, f"undescribed: {missing}"
