"""Sphinx configuration of rope's documentation site.

Build from the repository's root (the source folder is the root, so that docs/ and the
notebooks of examples/ link to each other by the same relative paths as on disk):

    sphinx-build -W --keep-going -c docs -b html . docs/_build/html

(.ci/docs does this in a fresh venv with ``pip install ".[docs]"``.) The notebooks are executed
during the build; a warning fails it.
"""
project = "rope"
author = "The rope authors"
copyright = "2026, The rope authors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

root_doc = "docs/index"
include_patterns = ["docs/**", "examples/*.ipynb"]
exclude_patterns = ["docs/_build/**", "docs/jupyter_execute/**", "**/.ipynb_checkpoints"]

# Markdown (MyST) with $...$ math; notebooks executed by myst-nb at every build.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# numpydoc renders the docstrings' sections; autodoc lists no members unless asked.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"

html_theme = "alabaster"
html_title = "rope: rotary positional embeddings for NumPy"
html_static_path = []


def _plain_text_gufunc_docstrings(app, what, name, obj, options, lines):
    """The C gufuncs' docstrings are plain text, where |x| means an absolute value, not a
    reStructuredText substitution: escape the bars."""
    import numpy as np

    if isinstance(obj, np.ufunc):
        lines[:] = [line.replace("|", "\\|") for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_text_gufunc_docstrings)
