"""Every public docstring example runs and prints what it says (functions and gufuncs)."""
import doctest
import inspect

import numpy as np
import pytest

import rope


def public_objects():
    seen = set()
    for name in rope.__all__:
        obj = getattr(rope, name)
        if inspect.ismodule(obj):
            for sub in getattr(obj, "__all__", []):
                yield f"rope.{name}.{sub}", getattr(obj, sub)
            continue
        if id(obj) not in seen:
            seen.add(id(obj))
            yield f"rope.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and getattr(member, "__doc__", None):
                        yield f"rope.{name}.{attr}", member


OBJECTS = list(public_objects())


@pytest.mark.parametrize("name,obj", OBJECTS, ids=[n for n, _ in OBJECTS])
def test_docstring_examples(name, obj):
    doc = inspect.getdoc(obj) if not isinstance(obj, np.ufunc) else obj.__doc__
    if not callable(obj) or isinstance(obj, (int, float)):
        return
    assert doc, f"{name} has no docstring"
    if isinstance(obj, np.ufunc) or inspect.isfunction(obj) or inspect.isclass(obj):
        assert "Examples" in doc or ">>>" in doc or name.startswith("rope.simd") or \
            name == "rope.set_simd_level", f"{name}'s docstring has no example"
    test = doctest.DocTestParser().get_doctest(doc, {"np": np, "rope": rope}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) in {name} failed (see output)"
