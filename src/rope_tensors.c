/*
 * rope_tensors.c: the bfloat16 dtype object (see rope_tensors.h).
 */
#include "rope_tensors.h"

PyArray_Descr *rope_bfloat16_bits;

int rope_add_tensor_support(PyObject *module)
{
    PyObject *args = Py_BuildValue("(s)", "uint16");
    PyObject *kwargs = Py_BuildValue("{s:{s:s}}", "metadata", "rope", "bfloat16");
    PyObject *dtype = NULL;
    if (args != NULL && kwargs != NULL) {
        dtype = PyObject_Call((PyObject *)&PyArrayDescr_Type, args, kwargs);
    }
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    if (dtype == NULL || PyModule_AddObjectRef(module, "bfloat16_bits", dtype) < 0) {
        Py_XDECREF(dtype);
        return -1;
    }
    rope_bfloat16_bits = (PyArray_Descr *)dtype; /* the module's reference, and this one */
    return 0;
}
