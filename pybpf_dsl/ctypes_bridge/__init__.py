"""ctypes types from BTF (map keys and values, decoded events) and their layouts.

::

    from pybpf_dsl.ctypes_bridge import ctype_for, layout
    Task = ctype_for(btf, btf.find_id("task_struct"))
    [f.name for f in layout(Task)][:3]
"""

from .from_btf import ctype_for
from .layout import FieldLayout, layout

__all__ = ["ctype_for", "layout", "FieldLayout"]
