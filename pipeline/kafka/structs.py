"""msgspec structs mirrored, field by field, from the pydantic wire models.

pydantic stays the schema of record (JSON Schema, collector-side checks); on the ingest hot
path msgspec decodes a node message about four times faster. The structs are generated from
the pydantic models' fields and constraints rather than written out again, so a field added
to `gpufleet.contract.schema` appears here without a second edit. msgspec's decoding is strict (no
"5" for 5), which makes it accept a subset of what pydantic accepts; the decoder hands
anything msgspec refuses to pydantic, so the verdicts agree (tests/unit/test_kafka_decoder.py).
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

import annotated_types
import msgspec
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gpufleet.contract.schema import NodeSample

_INT64_MAX = 2**63 - 1
_MIRRORED: dict[type[BaseModel], type[msgspec.Struct]] = {}


def _constraints(metadata: list[Any]) -> dict[str, int]:
    meta: dict[str, int] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):  # Annotated[int, Field(ge=...)] nested in Optional
            meta.update(_constraints(item.metadata))
        elif isinstance(item, annotated_types.Ge):
            meta["ge"] = int(item.ge)  # type: ignore[call-overload]
        elif isinstance(item, annotated_types.Le):
            # msgspec bounds must fit int64; a UInt64 field's upper bound is enforced when the
            # column is built (numpy raises OverflowError) and the message goes to pydantic.
            if int(item.le) <= _INT64_MAX:  # type: ignore[call-overload]
                meta["le"] = int(item.le)  # type: ignore[call-overload]
        elif isinstance(item, annotated_types.MinLen):
            meta["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            meta["max_length"] = item.max_length
        else:
            raise TypeError(f"cannot mirror constraint {item!r} into msgspec: extend pipeline/kafka/structs.py")
    return meta


def _mirror_type(annotation: Any, metadata: list[Any]) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extra = typing.get_args(annotation)
        return _mirror_type(base, [*extra, *metadata])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"cannot mirror union {annotation!r}")
        return _mirror_type(args[0], metadata) | None
    if origin is list:
        (item,) = typing.get_args(annotation)
        inner = mirror(item) if isinstance(item, type) and issubclass(item, BaseModel) else _mirror_type(item, [])
        return _annotate(list[inner], metadata)  # type: ignore[valid-type]
    if origin is Literal or annotation in (int, str, bool):
        return _annotate(annotation, metadata)
    raise TypeError(f"cannot mirror field type {annotation!r} into msgspec")


def _annotate(tp: Any, metadata: list[Any]) -> Any:
    meta = _constraints(metadata)
    return Annotated[tp, msgspec.Meta(**meta)] if meta else tp  # type: ignore[call-overload]


def mirror(model: type[BaseModel]) -> type[msgspec.Struct]:
    """A msgspec Struct with `model`'s fields, wire names, defaults and value constraints.

    Model validators (cross-field rules) are not mirrored: `gpufleet.contract.frame.check_frame`
    applies them to whole frames at once.
    """
    if model in _MIRRORED:
        return _MIRRORED[model]
    fields: list[tuple[str, Any, Any] | tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        tp = _mirror_type(info.annotation, list(info.metadata))
        if info.default is PydanticUndefined:
            fields.append((name, tp))
        else:
            fields.append((name, tp, info.default))
    renames = {name: info.alias for name, info in model.model_fields.items() if info.alias}
    struct = msgspec.defstruct(
        f"{model.__name__}Struct",
        fields,
        forbid_unknown_fields=True,  # pydantic's extra="forbid"
        rename=renames or None,
        gc=False,  # no reference cycles in decoded messages: skip GC tracking
        kw_only=True,
    )
    _MIRRORED[model] = struct
    return struct


NodeSampleStruct = mirror(NodeSample)
