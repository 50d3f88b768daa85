"""Light immutable records for the compiler's many small node classes.

``@dataclass`` generates and ``exec()``s five methods per class, about half a
millisecond each class; the typed IR alone has some forty node classes, which
cost ~20 ms at every import.  :func:`record` instead reads the annotations
once and shares one ``__init__``/``__eq__``/``__hash__``/``__repr__``
among all records, so defining a class costs microseconds.

Fields are the class's annotations in order, base classes' first.  A field
named in ``_compare_exclude`` (``loc`` for IR nodes) is left out of equality
and hashing; a class attribute with the field's name is its default.
"""

from __future__ import annotations

from typing import Any, TypeVar

C = TypeVar("C", bound=type)

_MISSING = object()


class Record:
    """Base class of records: positional or keyword construction, immutable."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}
    _compare_exclude: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, got {len(args)}")
        set_ = object.__setattr__
        for name, value in zip(fields, args):
            set_(self, name, value)
        for name in fields[len(args):]:
            value = kwargs.pop(name, _MISSING)
            if value is _MISSING:
                value = self._defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__} needs field {name!r}")
                if isinstance(value, _Factory):
                    value = value.make()
            set_(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(kwargs))!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields if f not in self._compare_exclude)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields
                          if f not in self._compare_exclude)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, f) for f in self._fields))

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed."""
        values = {f: getattr(self, f) for f in self._fields}
        values.update(changes)
        return type(self)(**values)


class MutableRecord(Record):
    """A record whose fields may be reassigned (hashed by identity)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    __hash__ = object.__hash__  # type: ignore[assignment]


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Any) -> None:
        self.make = make


def factory(make: Any) -> Any:
    """A default built anew for each record (like ``field(default_factory=...)``)."""
    return _Factory(make)


def record(cls: C) -> C:
    """Turn a :class:`Record` subclass's annotations into its fields."""
    own = [n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_")]
    base = getattr(cls, "_fields", ())
    fields = tuple(base) + tuple(n for n in own if n not in base)
    defaults = dict(getattr(cls, "_defaults", {}))
    for n in own:
        if n in cls.__dict__:
            defaults[n] = cls.__dict__[n]
            delattr(cls, n)
    cls._fields = fields  # type: ignore[attr-defined]
    cls._defaults = defaults  # type: ignore[attr-defined]
    return cls
