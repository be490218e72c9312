/* qlab plugin ABI: the only interface between qlab and a quantization algorithm.
 *
 * A plugin is a shared library (libqlab_<name>.so) exporting one C function,
 * qlab_plugin_entry(), which returns a constant descriptor. The descriptor's first field is
 * the ABI version; the host compares it with QLAB_PLUGIN_ABI_VERSION before reading anything
 * else and refuses the library on a mismatch.
 *
 * Rules: the host allocates every buffer that crosses the boundary; hooks receive read-only
 * views and host-allocated outputs, return 0 on success or non-zero with a message in the
 * host-owned qlab_error; no C++ types, exceptions or ownership cross the boundary. One
 * instance per run, called from one thread at a time, alive across blocks. Strings a plugin
 * returns (metric names) are static or instance-owned. A plugin never writes the model or
 * the log: the host applies, stores and logs what hooks return.
 *
 * Versioning: one integer, exact match, bumped on ANY change to a struct, enum or function
 * signature in this file (tests/test_plugin_abi.cpp pins the layout).
 */
#ifndef QLAB_PLUGIN_H
#define QLAB_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QLAB_PLUGIN_ABI_VERSION 1

#if defined(_WIN32)
#define QLAB_EXPORT __declspec(dllexport)
#else
#define QLAB_EXPORT __attribute__((visibility("default")))
#endif

/* A row-major float matrix: element (r, c) at data[r * row_stride + c]. */
typedef struct qlab_view  { float       *data; int64_t n_rows, n_cols, row_stride; } qlab_view;
typedef struct qlab_cview { const float *data; int64_t n_rows, n_cols, row_stride; } qlab_cview;

typedef struct qlab_error  { char message[512]; } qlab_error;
typedef struct qlab_metric { const char *name; double value; } qlab_metric;

/* Statistics of a linear's input the host captures on request (bit mask). */
enum qlab_stat {
  QLAB_STAT_HESSIAN  = 1,  /* H = 2/S · Σ x xᵀ over all calibration tokens, S = number of
                              sequences (GPTQ's running average; in × in) */
  QLAB_STAT_ABS_MEAN = 2,  /* mean |x_j| per input channel */
  QLAB_STAT_ABS_MAX  = 4,  /* max |x_j| per input channel */
  QLAB_STAT_ROWS     = 8   /* a seeded sample of input rows (tokens × in) */
};

/* What a transform hook is called on. */
enum qlab_scope { QLAB_SCOPE_GROUP = 1, QLAB_SCOPE_LINEAR = 2 };

/* Range convention of a uniform grid. */
enum qlab_range {
  QLAB_RANGE_GPTQ   = 0,  /* GPTQ's quantizer: [min(x,0), max(x,0)], the range always holds 0 */
  QLAB_RANGE_MINMAX = 1   /* AWQ's pseudo-quantizer: plain [min(x), max(x)] */
};

enum qlab_param_type { QLAB_PARAM_INT = 0, QLAB_PARAM_FLOAT = 1, QLAB_PARAM_BOOL = 2, QLAB_PARAM_STRING = 3 };

typedef struct qlab_param_decl {
  const char *name;
  int32_t     type;           /* qlab_param_type */
  const char *default_value;  /* as TOML would write it: "128", "0.01", "true", "mse" */
  const char *help;           /* one line for `qlab plugins` */
  int32_t     has_range;      /* numbers: value must lie in [min_value, max_value] */
  double      min_value, max_value;
  const char *choices;        /* strings: allowed values separated by '|', or NULL for any */
} qlab_param_decl;

typedef struct qlab_param {   /* a resolved value: the field of its type is set */
  const char *name;
  int32_t     type;
  int64_t     i;              /* INT, BOOL (0/1) */
  double      f;              /* FLOAT */
  const char *s;              /* STRING */
} qlab_param;

/* Host linear algebra, on host memory; each returns 0 or a non-zero error code. */
typedef struct qlab_linalg {
  void *ctx;
  /* c = alpha · a · bᵀ + beta · c */
  int32_t (*gemm_nt)(void *ctx, qlab_cview a, qlab_cview b, float alpha, float beta, qlab_view c);
  /* in place Cholesky factor of a symmetric positive-definite a (upper: a = UᵀU, else LLᵀ);
     returns 1 + the failing column when a is not positive definite */
  int32_t (*potrf)(void *ctx, qlab_view a, int32_t upper);
  /* in place inverse of the matrix whose Cholesky factor a holds (full symmetric result) */
  int32_t (*potri)(void *ctx, qlab_view a, int32_t upper);
  /* b ← op(t)⁻¹ · b (left) or b · op(t)⁻¹ (right) for triangular t */
  int32_t (*trsm)(void *ctx, qlab_cview t, qlab_view b, int32_t upper, int32_t left);
} qlab_linalg;

typedef struct qlab_stats {   /* of one linear input; what was not asked for is {0} */
  qlab_cview   hessian;
  const float *abs_mean, *abs_max;
  qlab_cview   rows;
  int64_t      n_tokens;
} qlab_stats;

typedef struct qlab_format {  /* the quantization format the host asks for */
  int32_t bits;        /* 2..8 */
  int32_t group_size;  /* along the input dimension; 0 = one group per output row */
  int32_t sym;         /* symmetric grid */
  int32_t range;       /* qlab_range */
} qlab_format;

typedef struct qlab_linear_in {   /* one linear to quantize */
  const char        *name;        /* "3.self_attn.q_proj" */
  int32_t            block;
  qlab_cview         weight;      /* out × in */
  qlab_stats         stats;
  qlab_format        format;
  const qlab_linalg *la;
  int32_t            n_threads;
} qlab_linear_in;

/* The host checks what a quantize hook returns and fails the run otherwise: 0 <= g_idx <
   n_groups, codes < 2^bits, and without a codebook dequant = scales · (codes − zeros). */
typedef struct qlab_quantize_out {  /* every array allocated by the host from the shapes */
  qlab_view dequant;     /* out × in: the weight evaluation uses */
  uint8_t  *codes;       /* out × in, row-major */
  float    *scales;      /* out × n_groups (uniform grids) */
  float    *zeros;       /* out × n_groups */
  int32_t  *g_idx;       /* in: group of each input column (act-order permutes it) */
  float    *codebook;    /* out × n_groups × 2^bits when the plugin uses_codebook, else NULL */
  int64_t   n_groups;    /* groups per row the host sized the arrays for */
  double    bits_per_weight;  /* storage cost the plugin reports, in (0, 32]; 0 = the host computes it */
  qlab_metric metrics[16];
  int32_t   n_metrics;
} qlab_quantize_out;

/* A scalable group: a producer op (norm or linear) feeding n consumer linears, or, for
   SCOPE_LINEAR transforms, one linear alone. */
typedef struct qlab_group_in {
  const char        *name;        /* producer name, or the linear's for SCOPE_LINEAR */
  int32_t            block;
  int32_t            n_linears;
  const char *const *linear_names;
  const qlab_cview  *weights;     /* the consumers' weights, out_i × in */
  qlab_stats         stats;       /* of the shared input */
  qlab_format        format;
  const qlab_linalg *la;
  /* host service: the mean squared error of the inspected module's output when its input
     is scaled by 1/s and the consumers use `candidates` (AWQ's module2inspect); NULL when
     the group has no inspected module */
  int32_t (*measure)(void *host, const qlab_cview *candidates, const float *s, double *mse);
  void              *host;
} qlab_group_in;

typedef struct qlab_transform_out {
  float     *scale;         /* in_features, prefilled 1.0; folded by the host if wrote_scale */
  qlab_view *weights;       /* n_linears prefilled copies; replace the consumers if wrote_weights */
  int32_t    wrote_scale, wrote_weights;
  qlab_metric metrics[16];
  int32_t    n_metrics;
} qlab_transform_out;

typedef struct qlab_plugin {
  uint32_t abi_version;                  /* FIRST, always */
  const char *name, *version, *summary;  /* "rtn", "1.0.0", one line */
  const qlab_param_decl *params;
  int32_t  n_params;
  uint32_t stats;                        /* qlab_stat mask the host must capture */
  uint32_t scope;                        /* for transform: qlab_scope */
  int32_t  uses_codebook;
  void   *(*create)(const qlab_param *values, int32_t n_values, qlab_error *err);
  void    (*destroy)(void *self);
  /* hooks: NULL = not provided; which are non-NULL is the plugin's kind */
  int32_t (*observe)(void *self, const char *name, int32_t block, qlab_cview x, qlab_error *err);
  int32_t (*transform)(void *self, const qlab_group_in *in, qlab_transform_out *out, qlab_error *err);
  int32_t (*quantize)(void *self, const qlab_linear_in *in, qlab_quantize_out *out, qlab_error *err);
} qlab_plugin;

typedef const qlab_plugin *(*qlab_plugin_entry_fn)(void);
QLAB_EXPORT const qlab_plugin *qlab_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* QLAB_PLUGIN_H */
