"""The job spec's fields: each a default and the limits or choices a value is checked against
(``number``, ``whole``, ``flag``, ``text``, ``choice``; ``custom`` for what a class reads itself),
and the ``Reader`` that reads them from a job's JSON, noting every problem with its field's path."""

import dataclasses
import json
import re


def _field(kind, default, **limits):
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return dataclasses.field(**factory, metadata={"kind": kind, **limits})


def number(default, low, high=None):
    """A number field from ``low`` to ``high`` (None: no upper limit)."""
    return _field((int, float), default, low=low, high=high)


def whole(default, low, high=None):
    """A whole-number field from ``low`` to ``high`` (None: no upper limit)."""
    return _field((int,), default, low=low, high=high)


def flag(default):
    return _field((bool,), default)


def text(default=None, required=False):
    return _field((str,), default, required=required)


def choice(default, choices):
    """One of ``choices`` (a dict of ``contract.Choice``, or names)."""
    return _field((str,), default, choices=tuple(choices))


def custom(default=None, low=None, high=None):
    """A field its class reads itself (a list, an object, a value of several kinds), with the
    limits of a number it may be."""
    return _field(None, default, low=low, high=high)


def default(cls, name):
    """The default of field ``name`` of spec class ``cls``."""
    field = cls.__dataclass_fields__[name]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def limits(cls, name):
    """``{"min": low, "max": high}`` of a number field (for a Blender property)."""
    metadata = cls.__dataclass_fields__[name].metadata
    return {key: metadata[limit] for key, limit in (("min", "low"), ("max", "high")) if metadata.get(limit) is not None}


def default_and_limits(cls, name):
    """``{"default": …, "min": …, "max": …}`` of a field (the keywords of a Blender property)."""
    return {"default": default(cls, name), **limits(cls, name)}


class Reader:
    """Reads a job's JSON, noting each problem with its field's path instead of stopping at the
    first, and every field it read (the others are typos)."""

    def __init__(self, raw):
        self.raw, self.problems, self.read = raw, [], set()

    def problem(self, path, message):
        self.problems.append(f"{path}: {message}")

    def get(self, path, kinds, default=None, required=False, within=None):
        """The value at ``path`` (in ``within``, else the job) if present and of one of ``kinds``."""
        self.read.add(path)
        owner = self.raw if within is None else within
        value = owner.get(re.split(r"[.\]]", path.rstrip("]"))[-1]) if isinstance(owner, dict) else None
        if value is None:
            if required:
                self.problem(path, "is missing")
            return default
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "text").replace("dict", "object") for k in kinds)
            self.problem(path, f"must be {names}, not {json.dumps(value)}")
            return default
        return value

    def field(self, cls, name, within, prefix=""):
        """Field ``name`` of ``cls`` from the object ``within``, checked against its limits."""
        field = cls.__dataclass_fields__[name]
        meta, path, fallback = field.metadata, prefix + name, default(cls, name)
        value = self.get(path, meta["kind"], fallback, meta.get("required", False), within)
        low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
        if value is fallback:
            return value
        if low is not None and (value < low or (high is not None and value > high)):
            self.problem(path, f"must be between {low} and {high}" if high is not None else f"must be ≥ {low}")
            return fallback
        if choices is not None and value not in choices:
            self.problem(path, f"must be one of {', '.join(choices)}, not {json.dumps(value)}")
            return fallback
        return value

    def fields(self, cls, within, prefix=""):
        """{name: value} of every field of ``cls`` that is not ``custom``."""
        return {field.name: self.field(cls, field.name, within, prefix) for field in dataclasses.fields(cls)
                if field.metadata.get("kind")}

    def object(self, path, within=None):
        """The object at ``path`` ({} when absent or not an object)."""
        return self.get(path, (dict,), {}, within=within)

    def not_used(self, paths, painter):
        """A problem for each of ``paths`` the job sets though ``painter`` does not read it."""
        for path in paths:
            self.read.add(path)
            parent, _, key = path.rpartition(".")
            owner = self.raw.get(parent) if parent else self.raw
            if isinstance(owner, dict) and key in owner:
                self.problem(path, f"the {painter} painter does not use it (painter is \"{painter}\")")

    def unknown_fields(self):
        """Fields of the job that nothing read, e.g. 'stpes' or 'controls.depth.wieght'."""
        parents = {field[:match.start()] for field in self.read for match in re.finditer(r"[.\[]", field)}
        return [field for field in field_paths(self.raw) if field not in self.read and field not in parents]


def field_paths(value, prefix=""):
    """The dotted path of every key of nested objects ('model.loras[0].scale')."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from field_paths(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from field_paths(item, f"{prefix}[{index}]")


def set_fields(spec, skip=()):
    """{name: value} of ``spec``'s fields that are set (not None, not empty), less ``skip``."""
    return {field.name: getattr(spec, field.name) for field in dataclasses.fields(spec)
            if field.name not in skip and getattr(spec, field.name) not in (None, (), {}, "")}
