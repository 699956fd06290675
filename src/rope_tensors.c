/*
 * rope_tensors.c: the bfloat16 dtype object and the DLPack reader (see rope_tensors.h).
 */
#include "rope_tensors.h"

#include <string.h>

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

/* ---- DLPack ---------------------------------------------------------------------------------
 * The structures of the DLPack ABI (dlpack.h) that a consumer reads: a capsule named
 * "dltensor" holds a rope_dl_managed (DLPack < 1.0), one named "dltensor_versioned" a
 * rope_dl_managed_versioned (1.x). The consumer renames the capsule "used_..." once it owns
 * the tensor, and calls the tensor's deleter when done with its memory. */
typedef struct {
    int32_t device_type; /* DLDeviceType */
    int32_t device_id;
} rope_dl_device;

typedef struct {
    uint8_t code; /* DLDataTypeCode */
    uint8_t bits;
    uint16_t lanes;
} rope_dl_dtype;

typedef struct {
    void *data;
    rope_dl_device device;
    int32_t ndim;
    rope_dl_dtype dtype;
    int64_t *shape;
    int64_t *strides; /* in elements; NULL: C-contiguous */
    uint64_t byte_offset;
} rope_dl_tensor;

typedef struct rope_dl_managed {
    rope_dl_tensor tensor;
    void *manager_ctx;
    void (*deleter)(struct rope_dl_managed *self);
} rope_dl_managed;

typedef struct rope_dl_managed_versioned {
    uint32_t major, minor;
    void *manager_ctx;
    void (*deleter)(struct rope_dl_managed_versioned *self);
    uint64_t flags;
    rope_dl_tensor tensor;
} rope_dl_managed_versioned;

enum { ROPE_DL_INT = 0, ROPE_DL_UINT = 1, ROPE_DL_FLOAT = 2, ROPE_DL_BFLOAT = 4,
       ROPE_DL_COMPLEX = 5, ROPE_DL_BOOL = 6 };
#define ROPE_DL_READ_ONLY 1u /* flags of a versioned tensor */
#define ROPE_DL_IS_COPIED 2u

/* CPU, CUDA host (pinned), ROCm host and CUDA managed memory: what the CPU can address. */
static int rope_dl_on_cpu(int32_t device_type)
{
    return device_type == 1 || device_type == 3 || device_type == 11 || device_type == 13;
}

/* Owners of a tensor that rope viewed: the capsule is the base of the NumPy array, and its
 * destructor hands the tensor back to its exporter. */
static void rope_dl_release(PyObject *owner)
{
    rope_dl_managed *managed = PyCapsule_GetPointer(owner, "rope_dltensor");
    if (managed != NULL && managed->deleter != NULL) {
        managed->deleter(managed);
    }
}

static void rope_dl_release_versioned(PyObject *owner)
{
    rope_dl_managed_versioned *managed = PyCapsule_GetPointer(owner, "rope_dltensor_versioned");
    if (managed != NULL && managed->deleter != NULL) {
        managed->deleter(managed);
    }
}

/* The dtype of a DLPack type rope rotates (a new reference), or NULL with a TypeError. */
static PyArray_Descr *rope_dl_descr(rope_dl_dtype type, const char *name)
{
    if (type.lanes == 1) {
        if (type.code == ROPE_DL_FLOAT && type.bits == 16) {
            return PyArray_DescrFromType(NPY_HALF);
        }
        if (type.code == ROPE_DL_FLOAT && type.bits == 32) {
            return PyArray_DescrFromType(NPY_FLOAT);
        }
        if (type.code == ROPE_DL_FLOAT && type.bits == 64) {
            return PyArray_DescrFromType(NPY_DOUBLE);
        }
        if (type.code == ROPE_DL_BFLOAT && type.bits == 16) {
            Py_INCREF(rope_bfloat16_bits);
            return rope_bfloat16_bits;
        }
    }
    static const char *const kinds[] = {"int", "uint", "float", "opaque handle", "bfloat",
                                        "complex", "bool"};
    const char *kind = type.code < sizeof kinds / sizeof kinds[0] ? kinds[type.code] : NULL;
    if (kind != NULL && type.lanes == 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s holds %s%u data; rope rotates float16, bfloat16, float32 and float64 "
                     "tensors. Convert it to one of them first (torch: %s.float())",
                     name, kind, (unsigned)type.bits, name);
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "%s holds DLPack data type code %u (%u bits, %u lanes); rope rotates "
                     "float16, bfloat16, float32 and float64 tensors",
                     name, (unsigned)type.code, (unsigned)type.bits, (unsigned)type.lanes);
    }
    return NULL;
}

/* Shape and byte strides of t into dims and strides, or -1 with a ValueError. */
static int rope_dl_layout(const rope_dl_tensor *t, npy_intp item, npy_intp *dims,
                          npy_intp *strides, const char *name)
{
    int64_t next = 1; /* the stride, in elements, of the axis when t is C-contiguous */
    for (int axis = t->ndim - 1; axis >= 0; axis--) {
        const int64_t length = t->shape[axis];
        const int64_t stride = t->strides != NULL ? t->strides[axis] : next;
        if (length < 0 || length > NPY_MAX_INTP || stride > NPY_MAX_INTP / item ||
            stride < -(NPY_MAX_INTP / item)) {
            PyErr_Format(PyExc_ValueError, "%s: its DLPack shape or strides are out of range "
                         "(axis %d: length %lld, stride %lld)", name, axis, (long long)length,
                         (long long)stride);
            return -1;
        }
        dims[axis] = (npy_intp)length;
        strides[axis] = (npy_intp)stride * item;
        next = length > 1 && next > INT64_MAX / length ? INT64_MAX : next * length;
    }
    return 0;
}

/*
 * dlpack_view(capsule, name) -> ndarray
 *
 * A NumPy array of the tensor in a DLPack capsule, viewing its memory (no copy): float16,
 * float32 or float64, or uint16 of dtype bfloat16_bits for bfloat16. Writeable unless the
 * exporter marks the tensor read-only. The array owns the tensor (the capsule is renamed as
 * used) and hands it back when it dies. `name` (x, out) is what the errors call it.
 */
PyObject *rope_dlpack_view(PyObject *Py_UNUSED(module), PyObject *const *args,
                           Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "dlpack_view(capsule, name, /)");
        return NULL;
    }
    PyObject *capsule = args[0];
    const char *name = PyUnicode_AsUTF8(args[1]);
    if (name == NULL) {
        return NULL;
    }
    const char *capsule_name = PyCapsule_CheckExact(capsule) ? PyCapsule_GetName(capsule) : "";
    if (capsule_name == NULL) {
        return NULL;
    }
    const int versioned = strcmp(capsule_name, "dltensor_versioned") == 0;
    if (!versioned && strcmp(capsule_name, "dltensor") != 0) {
        PyErr_Format(PyExc_TypeError, "%s.__dlpack__() returned %R, not a DLPack capsule "
                     "(named 'dltensor' or 'dltensor_versioned')", name, capsule);
        return NULL;
    }
    void *managed = PyCapsule_GetPointer(capsule, capsule_name);
    if (managed == NULL) {
        return NULL;
    }
    const rope_dl_tensor *t;
    uint64_t flags = 0;
    if (versioned) {
        const rope_dl_managed_versioned *v = managed;
        if (v->major != 1) { /* past 1.x, nothing but the version is known */
            PyErr_Format(PyExc_ValueError, "%s was exported as DLPack %u.%u; rope reads "
                         "DLPack 0.x and 1.x", name, (unsigned)v->major, (unsigned)v->minor);
            return NULL;
        }
        t = &v->tensor;
        flags = v->flags;
    }
    else {
        t = &((const rope_dl_managed *)managed)->tensor;
    }
    if (!rope_dl_on_cpu(t->device.device_type)) {
        PyErr_Format(PyExc_ValueError, "%s is in the memory of DLPack device type %d, which "
                     "the CPU cannot address; rope rotates tensors in CPU memory",
                     name, (int)t->device.device_type);
        return NULL;
    }
    if (flags & ROPE_DL_IS_COPIED) {
        PyErr_Format(PyExc_ValueError, "%s was exported as a copy of its tensor, so rotating "
                     "it would leave the tensor as it was", name);
        return NULL;
    }
    if (t->ndim < 0 || t->ndim > NPY_MAXDIMS) {
        PyErr_Format(PyExc_ValueError, "%s has %d dimensions; NumPy takes at most %d", name,
                     (int)t->ndim, NPY_MAXDIMS);
        return NULL;
    }
    PyArray_Descr *descr = rope_dl_descr(t->dtype, name);
    if (descr == NULL) {
        return NULL;
    }
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    if (rope_dl_layout(t, PyDataType_ELSIZE(descr), dims, strides, name) < 0) {
        Py_DECREF(descr);
        return NULL;
    }
    int empty = 0;
    for (int axis = 0; axis < t->ndim; axis++) {
        empty |= dims[axis] == 0;
    }
    static char nothing; /* where an empty tensor without memory points */
    char *data = t->data != NULL ? (char *)t->data + t->byte_offset : empty ? &nothing : NULL;
    if (data == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: its DLPack tensor has elements but no memory", name);
        Py_DECREF(descr);
        return NULL;
    }

    /* From here the tensor is rope's: its owner hands it back, however this ends. */
    PyObject *owner = versioned
        ? PyCapsule_New(managed, "rope_dltensor_versioned", rope_dl_release_versioned)
        : PyCapsule_New(managed, "rope_dltensor", rope_dl_release);
    if (owner == NULL) {
        Py_DECREF(descr);
        return NULL;
    }
    if (PyCapsule_SetName(capsule, versioned ? "used_dltensor_versioned" : "used_dltensor") < 0) {
        PyCapsule_SetDestructor(owner, NULL); /* the capsule still owns it */
        Py_DECREF(owner);
        Py_DECREF(descr);
        return NULL;
    }
    const int writeable = !(flags & ROPE_DL_READ_ONLY);
    PyObject *array = PyArray_NewFromDescr(&PyArray_Type, descr, t->ndim, dims, strides, data,
                                           writeable ? NPY_ARRAY_WRITEABLE : 0, NULL);
    if (array == NULL) {
        Py_DECREF(owner);
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)array, owner) < 0) { /* steals owner */
        Py_DECREF(array);
        return NULL;
    }
    return array;
}
