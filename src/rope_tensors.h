/*
 * rope_tensors.h: data NumPy does not describe on its own. bfloat16 elements are held in arrays
 * of the uint16 dtype object rope_bfloat16_bits (uint16 with metadata, told apart from plain
 * uint16 by identity: views keep their dtype object); DLPack tensors (torch, JAX, ...) are read
 * from their capsules into NumPy arrays that view their memory.
 */
#ifndef ROPE_TENSORS_H
#define ROPE_TENSORS_H

#include "rope_numpy.h"

/* The dtype of rope's bfloat16 arrays: created by rope_add_tensor_support, never freed. */
extern PyArray_Descr *rope_bfloat16_bits;

/* Create rope_bfloat16_bits and add it to the module as `bfloat16_bits`. */
int rope_add_tensor_support(PyObject *module);

/* dlpack_view(capsule, name, /): the module function (METH_FASTCALL). */
PyObject *rope_dlpack_view(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
