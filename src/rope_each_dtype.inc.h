/*
 * rope_each_dtype.inc.h: includes the template named by ROPE_TEMPLATE once for each data type
 * of rope_dtype, with
 *   ROPE_X   the type's name in the vocabulary and in the kernels' names: f16, f32, f32_f64, f64,
 *            bf16
 *   ROPE_D   the C type of its data elements
 *   ROPE_T   the name of its compute type (f32 or f64)
 *   ROPE_TT  the C type of its tables (float or double)
 * The one list of the data types the kernels are written for.
 */
#define ROPE_X f16
#define ROPE_D uint16_t
#define ROPE_T f32
#define ROPE_TT float
#include ROPE_TEMPLATE
#undef ROPE_X
#undef ROPE_D
#undef ROPE_T
#undef ROPE_TT

#define ROPE_X f32
#define ROPE_D float
#define ROPE_T f32
#define ROPE_TT float
#include ROPE_TEMPLATE
#undef ROPE_X
#undef ROPE_D
#undef ROPE_T
#undef ROPE_TT

#define ROPE_X f32_f64
#define ROPE_D float
#define ROPE_T f64
#define ROPE_TT double
#include ROPE_TEMPLATE
#undef ROPE_X
#undef ROPE_D
#undef ROPE_T
#undef ROPE_TT

#define ROPE_X f64
#define ROPE_D double
#define ROPE_T f64
#define ROPE_TT double
#include ROPE_TEMPLATE
#undef ROPE_X
#undef ROPE_D
#undef ROPE_T
#undef ROPE_TT

#define ROPE_X bf16
#define ROPE_D uint16_t
#define ROPE_T f32
#define ROPE_TT float
#include ROPE_TEMPLATE
#undef ROPE_X
#undef ROPE_D
#undef ROPE_T
#undef ROPE_TT

#undef ROPE_TEMPLATE
