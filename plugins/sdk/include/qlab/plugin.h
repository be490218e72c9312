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
 *
 * Version 2 (from 1): parameter defaults are typed fields, not TOML text; the descriptor
 * declares the formats a plugin supports (qlab_support), how it names the method published
 * tables use (naming, method_name) and no longer has `observe`, which nothing called; the
 * host prefills g_idx; a transform says when it declined on purpose (declined); a group
 * names its producer's kind; host services take a qlab_error; per-linear files are read
 * by the host (read_linear_tensor); more than QLAB_MAX_METRICS metrics is an error.
 *
 * Version 3 (from 2; the design's "ABI v2"): a model-scope transform hook (transform_model,
 * scope QLAB_SCOPE_MODEL), called once before the walk with the architecture's description;
 * it returns an orthogonal rotation of the residual stream, which the host folds into the
 * weights after folding the RMSNorms (QuaRot), and the online transforms the forward pass
 * must apply (qlab_online); the host's randomized-Hadamard service (qlab_model_in.hadamard).
 * (qlab_linalg.gptq_solve was appended under version 2.) A version-2 library is refused with
 * the rebuild instruction.
 */
#ifndef QLAB_PLUGIN_H
#define QLAB_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QLAB_PLUGIN_ABI_VERSION 3

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

/* Metrics a hook may return; a larger n_metrics fails the run. */
#define QLAB_MAX_METRICS 16

/* Statistics of a linear's input the host captures on request (bit mask). */
enum qlab_stat {
  QLAB_STAT_HESSIAN  = 1,  /* H = 2/S · Σ x xᵀ over all calibration tokens, S = number of
                              sequences (GPTQ's running average; in × in) */
  QLAB_STAT_ABS_MEAN = 2,  /* mean |x_j| per input channel */
  QLAB_STAT_ABS_MAX  = 4,  /* max |x_j| per input channel */
  QLAB_STAT_ROWS     = 8   /* a seeded sample of input rows (tokens × in) */
};

/* What a transform hook is called on. */
enum qlab_scope { QLAB_SCOPE_GROUP = 1, QLAB_SCOPE_LINEAR = 2, QLAB_SCOPE_MODEL = 3 };

/* What produces a scalable group's shared input: a transform folds its scale there. */
enum qlab_producer {
  QLAB_PRODUCER_NONE   = 0,  /* SCOPE_LINEAR: the linear alone, nothing to fold into */
  QLAB_PRODUCER_NORM   = 1,  /* an RMSNorm or LayerNorm */
  QLAB_PRODUCER_LINEAR = 2   /* a linear (v_proj → o_proj, up_proj → down_proj) */
};

/* Range convention of a uniform grid. */
enum qlab_range {
  QLAB_RANGE_GPTQ   = 0,  /* GPTQ's quantizer: [min(x,0), max(x,0)], the range always holds 0 */
  QLAB_RANGE_MINMAX = 1   /* AWQ's pseudo-quantizer: plain [min(x), max(x)] */
};

enum qlab_param_type { QLAB_PARAM_INT = 0, QLAB_PARAM_FLOAT = 1, QLAB_PARAM_BOOL = 2, QLAB_PARAM_STRING = 3 };

/* A declared parameter; the default sits in the field of its type (plugin.hpp's builders
   fill these). The host checks at load that the default lies in the range / choices. */
typedef struct qlab_param_decl {
  const char *name;
  int32_t     type;            /* qlab_param_type */
  const char *help;            /* one line for `qlab plugins` */
  int64_t     default_int;     /* INT, BOOL (0/1) */
  double      default_float;   /* FLOAT */
  const char *default_string;  /* STRING, unquoted: "mse" */
  int32_t     has_range;       /* numbers: value must lie in [min_value, max_value] */
  double      min_value, max_value;
  const char *choices;         /* strings: allowed values separated by '|', or NULL for any */
} qlab_param_decl;

typedef struct qlab_param {   /* a resolved value: the field of its type is set */
  const char *name;
  int32_t     type;
  int64_t     i;              /* INT, BOOL (0/1) */
  double      f;              /* FLOAT */
  const char *s;              /* STRING */
} qlab_param;

/* The options of the host's GPTQ solve (qlab_linalg.gptq_solve): gptq's own parameters. */
typedef struct qlab_gptq_options {
  double  damp_frac;         /* dampening as a fraction of mean(diag H) */
  int32_t block_size;        /* columns per lazy-update block */
  int32_t act_order;         /* 0/1: columns by descending diag(H) */
  int32_t static_groups;     /* 0/1: every group fitted before any update */
  int32_t fit_on_updated;    /* 0/1: groups fitted on fully updated columns (else IST-DASLab's reference) */
  int32_t mse;               /* 0/1: GPTQ's MSE shrink search for every row/group's range */
  int32_t max_damp_retries;  /* ×10 dampening steps when H + damp·I is not positive definite */
} qlab_gptq_options;

typedef struct qlab_gptq_result {
  double  loss;              /* Σ (w − q)² / Hinv_jj² / 2, the reference's printed error */
  double  damp;              /* dampening added to the diagonal */
  int32_t damp_retries, n_dead;
  double  time_factor_s, time_solve_s;
} qlab_gptq_result;

/* gptq_solve's answer when it does not run these options here: the plugin runs its own loop. */
#define QLAB_LINALG_UNSUPPORTED (-2)

struct qlab_linear_in;     /* below: gptq_solve takes them */
struct qlab_quantize_out;

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
  /* GPTQ's whole solve (IST-DASLab semantics) on the run's compute backend, so W and H⁻¹ stay
     in device memory: fills out's dequant, codes, scales, zeros and g_idx (not its metrics)
     and res. NULL when the host has no such backend (the CPU); QLAB_LINALG_UNSUPPORTED when
     it does not run these options or this format, so the plugin runs its own loop; another
     non-zero code with a message in err on failure (H not positive definite after the retries).
     Appended last under version 2, so the members above keep their offsets: a plugin built
     before it never reads it. A plugin reading it needs a host that fills it: hosts built
     before it end the table at trsm. */
  int32_t (*gptq_solve)(void *ctx, const struct qlab_linear_in *in, const qlab_gptq_options *opt,
                        struct qlab_quantize_out *out, qlab_gptq_result *res, qlab_error *err);
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

/* The formats a plugin supports; the host refuses a pipeline asking for another one when it
   validates the experiment, before any weight is loaded. Zero fields constrain nothing. */
typedef struct qlab_support {
  uint32_t bits;                 /* mask: bit b set = b-bit formats supported (1u << 4 = 4 only); 0 = 2..8 */
  int32_t  needs_groups;         /* 1: group_size 0 (one group per row) is refused */
  int32_t  group_size_multiple;  /* group_size must be a multiple of this (0 = any) */
} qlab_support;

typedef struct qlab_linear_in {   /* one linear to quantize */
  const char        *name;        /* "3.self_attn.q_proj" */
  int32_t            block;
  qlab_cview         weight;      /* out × in */
  qlab_stats         stats;
  qlab_format        format;
  const qlab_linalg *la;
  int32_t            n_threads;
  /* host service: this linear's tensor in a safetensors file the plugin names (a path it got
     as a parameter), found under the linear's id ("3.mlp.down_proj") or its Hugging Face
     weight name ("model.layers.3.mlp.down_proj.weight", "model.decoder.layers.3.fc1.weight"),
     checked to be out × in and finite, as float. *out stays valid until the hook returns.
     Returns 0, or non-zero with a message naming the file, the tensor and the problem. */
  int32_t (*read_linear_tensor)(void *host, const char *path, qlab_cview *out, qlab_error *err);
  void              *host;
} qlab_linear_in;

/* The host checks what a quantize hook returns and fails the run otherwise: 0 <= g_idx <
   n_groups, codes < 2^bits, and without a codebook dequant = scales · (codes − zeros). */
typedef struct qlab_quantize_out {  /* every array allocated by the host from the shapes */
  qlab_view dequant;     /* out × in: the weight evaluation uses */
  uint8_t  *codes;       /* out × in, row-major */
  float    *scales;      /* out × n_groups (uniform grids) */
  float    *zeros;       /* out × n_groups */
  int32_t  *g_idx;       /* in: group of each input column, prefilled with the contiguous
                            grouping (column c → c / group_size, 0 when ungrouped); act-order permutes it */
  float    *codebook;    /* out × n_groups × 2^bits when the plugin uses_codebook, else NULL */
  int64_t   n_groups;    /* groups per row the host sized the arrays for */
  double    bits_per_weight;  /* storage cost the plugin reports, in (0, 32]; 0 = the host computes it */
  qlab_metric metrics[QLAB_MAX_METRICS];
  int32_t   n_metrics;
} qlab_quantize_out;

/* A scalable group: a producer op (norm or linear) feeding n consumer linears, or, for
   SCOPE_LINEAR transforms, one linear alone. */
typedef struct qlab_group_in {
  const char        *name;        /* producer name, or the linear's for SCOPE_LINEAR */
  int32_t            block;
  int32_t            producer_kind;  /* qlab_producer */
  int32_t            n_linears;
  const char *const *linear_names;
  const qlab_cview  *weights;     /* the consumers' weights, out_i × in */
  qlab_stats         stats;       /* of the shared input */
  qlab_format        format;
  const qlab_linalg *la;
  /* host service: the mean squared error of the inspected module's output when its input
     is scaled by 1/s and the consumers use `candidates` (AWQ's module2inspect); NULL when
     the group has no inspected module; non-zero with a message in err on failure */
  int32_t (*measure)(void *host, const qlab_cview *candidates, const float *s, double *mse, qlab_error *err);
  void              *host;
} qlab_group_in;

typedef struct qlab_transform_out {
  float     *scale;         /* in_features, prefilled 1.0; folded by the host if wrote_scale */
  qlab_view *weights;       /* n_linears prefilled copies; replace the consumers if wrote_weights */
  int32_t    wrote_scale, wrote_weights;
  int32_t    declined;      /* left the group as it is on purpose (no finite loss, a dead producer);
                               the host counts it as handled and logs <plugin>.fallback_unscaled = 1 */
  qlab_metric metrics[QLAB_MAX_METRICS];
  int32_t    n_metrics;
} qlab_transform_out;

/* Online transforms a model-scope transform can ask the forward pass for (bit mask). */
enum qlab_online {
  QLAB_ONLINE_DOWN_HADAMARD = 1,         /* x ← x·H before every block's down_proj, H the Hadamard
                                            of its width (host: tensor/hadamard.h); the host folds
                                            H into down_proj's weight, so the function is unchanged */
  QLAB_ONLINE_VALUE_OUTPUT_HADAMARD = 2, /* each value head ← head·H_head_dimᵀ (folded into v_proj, so
                                            the V cache is quantized rotated), the attention output
                                            turned back per head, then x ← x·H before o_proj (folded
                                            into o_proj) */
  QLAB_ONLINE_QUERY_KEY_HADAMARD = 4     /* each head of q and k ← head·H_head_dim after RoPE, before
                                            the K cache is quantized (q·kᵀ unchanged) */
};

enum qlab_norm_kind { QLAB_NORM_RMS = 0, QLAB_NORM_LAYER = 1 };

/* The model as a model-scope transform sees it: the residual stream (width dim), who reads
   it (the linears fed by a norm of the stream, and lm_head) and who writes it (the linears
   whose output is added to it), by role ("self_attn.q_proj"). */
typedef struct qlab_model_in {
  const char        *family;       /* "llama", "qwen3", "opt", … */
  int64_t            dim, hidden_dim, n_layers, n_heads, n_kv_heads, head_dim, vocab_size;
  int32_t            norm_kind;    /* qlab_norm_kind */
  int32_t            pre_norm;
  int32_t            n_readers, n_writers;
  const char *const *readers;
  const char *const *writers;
  const qlab_linalg *la;
  /* host service: QuaRot's randomized Hadamard diag(±1)·H of width n, the signs drawn from
     `seed`, into out (n × n); non-zero with a message naming the width when none can be built */
  int32_t (*hadamard)(void *host, int64_t n, uint64_t seed, qlab_view out, qlab_error *err);
  void              *host;
} qlab_model_in;

typedef struct qlab_model_out {
  qlab_view   rotation;       /* dim × dim, prefilled identity; applied when wrote_rotation: must be
                                 orthogonal (the host checks QᵀQ = I) */
  int32_t     wrote_rotation;
  uint32_t    online;         /* qlab_online mask */
  uint64_t    online_seed;    /* draws the random orthogonal factor of a width no Hadamard form covers */
  qlab_metric metrics[QLAB_MAX_METRICS];
  int32_t     n_metrics;
} qlab_model_out;

/* How a plugin enters the method name published tables use (`qlab report --against`). */
enum qlab_naming {
  QLAB_NAMING_OWN      = 0,  /* the method is this plugin's (its name, or method_name's) */
  QLAB_NAMING_SILENT   = 1,  /* a step that does not change the method's name (AWQ's clip search) */
  QLAB_NAMING_BASELINE = 2   /* the plain quantizer a transform implies: transform → it is named after the transform */
};

typedef struct qlab_plugin {
  uint32_t abi_version;                  /* FIRST, always */
  const char *name, *version, *summary;  /* "rtn", "1.0.0", one line */
  const qlab_param_decl *params;
  int32_t  n_params;
  uint32_t stats;                        /* qlab_stat mask the host must capture */
  uint32_t scope;                        /* for transform: qlab_scope */
  int32_t  uses_codebook;
  qlab_support support;                  /* formats it accepts; {0} = every format */
  int32_t  naming;                       /* qlab_naming */
  /* the published method name for these parameter values ("gptq-r" with act_order), static
     or instance-independent; NULL = the plugin's name */
  const char *(*method_name)(const qlab_param *values, int32_t n_values);
  void   *(*create)(const qlab_param *values, int32_t n_values, qlab_error *err);
  void    (*destroy)(void *self);
  /* hooks: NULL = not provided; which are non-NULL is the plugin's kind */
  int32_t (*transform)(void *self, const qlab_group_in *in, qlab_transform_out *out, qlab_error *err);
  int32_t (*quantize)(void *self, const qlab_linear_in *in, qlab_quantize_out *out, qlab_error *err);
  int32_t (*transform_model)(void *self, const qlab_model_in *in, qlab_model_out *out, qlab_error *err);
} qlab_plugin;

typedef const qlab_plugin *(*qlab_plugin_entry_fn)(void);
QLAB_EXPORT const qlab_plugin *qlab_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* QLAB_PLUGIN_H */
