/*
 * rope_numpy.h: the one place that includes Python and NumPy. Every C file that uses either
 * includes this header first. rope_module.c defines ROPE_IMPORT_NUMPY to own the import of
 * NumPy's C API tables; every other file shares them through the unique symbols below.
 */
#ifndef ROPE_NUMPY_H
#define ROPE_NUMPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_2_1_API_VERSION
/* process_core_dims_func (which checks 2k <= n before any loop runs) is NumPy 2.1 API. */
#define NPY_TARGET_VERSION NPY_2_1_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL rope_ARRAY_API
#define PY_UFUNC_UNIQUE_SYMBOL rope_UFUNC_API
#ifndef ROPE_IMPORT_NUMPY
#define NO_IMPORT_ARRAY
#define NO_IMPORT_UFUNC
#endif
#include <numpy/arrayobject.h>
#include <numpy/ufuncobject.h>

#endif
