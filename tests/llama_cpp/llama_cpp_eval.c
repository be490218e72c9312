// qlab_llama_cpp_eval: the real consumer of qlab's GGUF exports. Loads a GGUF with llama.cpp's
// own libraries (v0.4.0, CPU only), computes the perplexity of a text under qlab's protocol
// (core/eval/perplexity.cpp) and, on request, a greedy continuation as `qlab generate` makes it.
//
//   qlab_llama_cpp_eval MODEL.gguf --text FILE --seqlen N [--max-segments M] [--threads T]
//                       [--dump-tokens OUT] [--kv f32|f16] [--greedy PROMPT --n-predict K]
//
// Prints one JSON object on stdout. The protocol: the whole text tokenized once, BOS first, no
// special-token parsing; floor(len / N) segments of N tokens (at most M), each decoded from an
// empty KV cache at positions 0..N-1; a segment's loss is the mean over t = 1..N-1 of
// -log softmax(logits[t-1])[tok[t]] in double; ppl = exp(mean over all scored tokens).
// Greedy: the prompt tokenized with BOS, then argmax one token at a time, stopping at EOS, BOS
// or the model's context, as qlab's generate_greedy does.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llama.h"

#ifndef QLAB_LLAMA_CPP_LIB_DIR
#define QLAB_LLAMA_CPP_LIB_DIR ""
#endif

static void die(const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("qlab_llama_cpp_eval: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void * xmalloc(size_t n) {
    void * p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

// llama.cpp and ggml speak only on errors.
static void log_errors_only(enum ggml_log_level level, const char * text, void * user_data) {
    static int last_was_error = 0;
    (void) user_data;
    if (level == GGML_LOG_LEVEL_CONT ? last_was_error : level == GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
    if (level != GGML_LOG_LEVEL_CONT) last_was_error = level == GGML_LOG_LEVEL_ERROR;
}

struct options {
    const char * model;
    const char * text;
    const char * dump_tokens;
    const char * greedy;
    const char * kv;
    long         seqlen;
    long         max_segments;
    long         threads;
    long         n_predict;
};

static long parse_long(const char * flag, const char * value, long lo) {
    char * end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < lo) die("%s %s: expected an integer >= %ld", flag, value, lo);
    return v;
}

static void usage(void) {
    fputs("usage: qlab_llama_cpp_eval MODEL.gguf --text FILE --seqlen N [--max-segments M] [--threads T]\n"
          "                           [--dump-tokens OUT] [--kv f32|f16] [--greedy PROMPT --n-predict K]\n", stderr);
    exit(2);
}

static struct options parse_options(int argc, char ** argv) {
    struct options o = { NULL, NULL, NULL, NULL, "f32", 0, 0, 0, 0 };
    for (int i = 1; i < argc; ++i) {
        const char * a = argv[i];
        if (a[0] != '-') {
            if (o.model) die("a second model '%s' (the first is '%s')", a, o.model);
            o.model = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        if (i + 1 >= argc) die("%s needs a value", a);
        const char * v = argv[++i];
        if      (!strcmp(a, "--text"))         o.text         = v;
        else if (!strcmp(a, "--seqlen"))       o.seqlen       = parse_long(a, v, 2);
        else if (!strcmp(a, "--max-segments")) o.max_segments = parse_long(a, v, 0);
        else if (!strcmp(a, "--threads"))      o.threads      = parse_long(a, v, 1);
        else if (!strcmp(a, "--dump-tokens"))  o.dump_tokens  = v;
        else if (!strcmp(a, "--kv"))           o.kv           = v;
        else if (!strcmp(a, "--greedy"))       o.greedy       = v;
        else if (!strcmp(a, "--n-predict"))    o.n_predict    = parse_long(a, v, 1);
        else die("unknown option %s", a);
    }
    if (!o.model) usage();
    if (!o.text && !o.greedy) die("nothing to do: give --text FILE --seqlen N and/or --greedy PROMPT --n-predict K");
    if (o.text && !o.seqlen) die("--text needs --seqlen");
    if (o.greedy && !o.n_predict) die("--greedy needs --n-predict");
    if (strcmp(o.kv, "f32") && strcmp(o.kv, "f16")) die("--kv %s: expected f32 or f16", o.kv);
    if (o.threads == 0) o.threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    return o;
}

static char * read_file(const char * path, size_t * size) {
    FILE * f = fopen(path, "rb");
    if (!f) die("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char * buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) die("%s: out of memory", path);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) die("%s: read error", path);
    fclose(f);
    *size = n;
    return buf;
}

// BOS first (add_special), special strings read as plain text (parse_special = false).
static llama_token * tokenize(const struct llama_vocab * vocab, const char * what, const char * text, size_t len,
                              int32_t * n_out) {
    if (len > INT32_MAX / 2) die("%s: %zu bytes is too long for llama_tokenize", what, len);
    int32_t cap = (int32_t) len + 2;
    llama_token * toks = xmalloc(sizeof(llama_token) * (size_t) cap);
    int32_t n = llama_tokenize(vocab, text, (int32_t) len, toks, cap, true, false);
    if (n < 0 && n != INT32_MIN) {
        cap = -n;
        toks = realloc(toks, sizeof(llama_token) * (size_t) cap);
        if (!toks) die("%s: out of memory", what);
        n = llama_tokenize(vocab, text, (int32_t) len, toks, cap, true, false);
    }
    if (n < 0) die("%s: llama_tokenize failed (%d)", what, n);
    *n_out = n;
    return toks;
}

static struct llama_context * make_context(struct llama_model * model, const struct options * o, uint32_t n_ctx,
                                           const char * path) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx           = n_ctx;
    cp.n_batch         = n_ctx;
    cp.n_ubatch        = n_ctx;
    cp.n_seq_max       = 1;
    cp.n_threads       = (int32_t) o->threads;
    cp.n_threads_batch = (int32_t) o->threads;
    cp.offload_kqv     = false;
    cp.op_offload      = false;
    cp.no_perf         = true;
    // A float KV cache and no flash attention: only the weights' format differs from qlab.
    if (!strcmp(o->kv, "f32")) {
        cp.type_k          = GGML_TYPE_F32;
        cp.type_v          = GGML_TYPE_F32;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) die("%s: llama_init_from_model failed (n_ctx %u)", path, n_ctx);
    return ctx;
}

static double log_softmax_at(const float * logits, int32_t n_vocab, llama_token target) {
    double mx = logits[0];
    for (int32_t v = 1; v < n_vocab; ++v) if (logits[v] > mx) mx = logits[v];
    double sum = 0.0;
    for (int32_t v = 0; v < n_vocab; ++v) sum += exp((double) logits[v] - mx);
    return (double) logits[target] - mx - log(sum);
}

static int32_t argmax(const float * logits, int32_t n_vocab) {
    int32_t best = 0;
    for (int32_t v = 1; v < n_vocab; ++v) if (logits[v] > logits[best]) best = v;
    return best;
}

static void batch_fill(struct llama_batch * b, const llama_token * toks, int32_t n, int32_t pos0, int all_logits) {
    b->n_tokens = n;
    for (int32_t i = 0; i < n; ++i) {
        b->token[i]     = toks[i];
        b->pos[i]       = pos0 + i;
        b->n_seq_id[i]  = 1;
        b->seq_id[i][0] = 0;
        b->logits[i]    = (int8_t) (all_logits || i == n - 1);
    }
}

static void write_tokens(const char * path, const llama_token * toks, int32_t n) {
    FILE * f = fopen(path, "w");
    if (!f) die("%s: cannot write: %s", path, strerror(errno));
    for (int32_t i = 0; i < n; ++i) fprintf(f, i ? " %d" : "%d", toks[i]);
    fputc('\n', f);
    if (fclose(f)) die("%s: write error", path);
}

static void json_string(FILE * js, const char * s, size_t n) {
    fputc('"', js);
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') fprintf(js, "\\%c", c);
        else if (c == '\n') fputs("\\n", js);
        else if (c < 0x20) fprintf(js, "\\u%04x", c);
        else fputc(c, js);
    }
    fputc('"', js);
}

int main(int argc, char ** argv) {
    struct options o = parse_options(argc, argv);

    llama_log_set(log_errors_only, NULL);
    // The CPU backend is a libggml-cpu-<level>.so picked at run time for this CPU (ggml's
    // GGML_BACKEND_DL build): load it from the libraries' directory, or $QLAB_LLAMA_CPP_LIB_DIR.
    const char * lib_dir = getenv("QLAB_LLAMA_CPP_LIB_DIR");
    if (!lib_dir || !*lib_dir) lib_dir = QLAB_LLAMA_CPP_LIB_DIR;
    ggml_backend_load_all_from_path(lib_dir);
    if (!ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU))
        die("no CPU backend (libggml-cpu-*.so) loaded from '%s' (set QLAB_LLAMA_CPP_LIB_DIR)", lib_dir);
    llama_backend_init();

    FILE * probe = fopen(o.model, "rb");
    if (!probe) die("%s: cannot open: %s", o.model, strerror(errno));
    fclose(probe);
    struct llama_model_params mp = llama_model_default_params();
    ggml_backend_dev_t cpu_only[2] = { ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU), NULL };
    mp.devices      = cpu_only;
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(o.model, mp);
    if (!model) die("%s: llama.cpp could not load this GGUF (its error is above)", o.model);
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    const int32_t n_ctx_train = llama_model_n_ctx_train(model);

    // The JSON is printed only once everything succeeded: an error leaves stdout empty.
    char * json = NULL;
    size_t json_len = 0;
    FILE * js = open_memstream(&json, &json_len);
    if (!js) die("open_memstream: %s", strerror(errno));
    fprintf(js, "{\"model\":");
    json_string(js, o.model, strlen(o.model));

    if (o.text) {
        size_t len = 0;
        char * text = read_file(o.text, &len);
        int32_t n_tok = 0;
        llama_token * toks = tokenize(vocab, o.text, text, len, &n_tok);
        if (o.dump_tokens) write_tokens(o.dump_tokens, toks, n_tok);
        long n_seg = n_tok / o.seqlen;
        if (o.max_segments > 0 && n_seg > o.max_segments) n_seg = o.max_segments;
        if (n_seg == 0) die("%s: %d tokens make no segment of %ld", o.text, n_tok, o.seqlen);

        struct llama_context * ctx = make_context(model, &o, (uint32_t) o.seqlen, o.model);
        struct llama_batch batch = llama_batch_init((int32_t) o.seqlen, 0, 1);
        double * seg_nll = xmalloc(sizeof(double) * (size_t) n_seg);
        double total = 0.0;
        for (long s = 0; s < n_seg; ++s) {
            const llama_token * seg = toks + s * o.seqlen;
            llama_memory_clear(llama_get_memory(ctx), true);
            batch_fill(&batch, seg, (int32_t) o.seqlen, 0, 1);
            int32_t rc = llama_decode(ctx, batch);
            if (rc != 0) die("%s: llama_decode of segment %ld failed (%d)", o.model, s, rc);
            double nll = 0.0;
            for (long t = 1; t < o.seqlen; ++t)
                nll -= log_softmax_at(llama_get_logits_ith(ctx, (int32_t) (t - 1)), n_vocab, seg[t]);
            total += nll;
            seg_nll[s] = nll / (double) (o.seqlen - 1);
        }
        const long n_scored = n_seg * (o.seqlen - 1);
        fprintf(js, ",\"text\":");
        json_string(js, o.text, strlen(o.text));
        fprintf(js, ",\"seqlen\":%ld,\"n_tokens\":%d,\"n_segments\":%ld,\"n_scored\":%ld,\"ppl\":%.17g,\"segment_nll\":[",
               o.seqlen, n_tok, n_seg, n_scored, exp(total / (double) n_scored));
        for (long s = 0; s < n_seg; ++s) fprintf(js, s ? ",%.17g" : "%.17g", seg_nll[s]);
        fputc(']', js);
        free(seg_nll);
        llama_batch_free(batch);
        llama_free(ctx);
        free(toks);
        free(text);
    }

    if (o.greedy) {
        int32_t n_prompt = 0;
        llama_token * prompt = tokenize(vocab, "--greedy", o.greedy, strlen(o.greedy), &n_prompt);
        if (n_prompt >= n_ctx_train) die("--greedy: prompt of %d tokens does not fit the context of %d", n_prompt, n_ctx_train);
        long capacity = n_prompt + o.n_predict;
        if (capacity > n_ctx_train) capacity = n_ctx_train;
        struct llama_context * ctx = make_context(model, &o, (uint32_t) capacity, o.model);
        struct llama_batch batch = llama_batch_init((int32_t) capacity, 0, 1);
        llama_token * out = xmalloc(sizeof(llama_token) * (size_t) capacity);
        int32_t n_out = 0;
        batch_fill(&batch, prompt, n_prompt, 0, 0);
        int32_t rc = llama_decode(ctx, batch);
        for (int32_t pos = n_prompt; rc == 0 && pos < capacity; ++pos) {
            llama_token id = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
            if (id == llama_vocab_eos(vocab) || id == llama_vocab_bos(vocab)) break;
            out[n_out++] = id;
            if (pos + 1 >= capacity) break;
            batch_fill(&batch, &id, 1, pos, 0);
            rc = llama_decode(ctx, batch);
        }
        if (rc != 0) die("%s: llama_decode during --greedy failed (%d)", o.model, rc);
        fprintf(js, ",\"prompt_tokens\":[");
        for (int32_t i = 0; i < n_prompt; ++i) fprintf(js, i ? ",%d" : "%d", prompt[i]);
        fprintf(js, "],\"greedy\":[");
        for (int32_t i = 0; i < n_out; ++i) fprintf(js, i ? ",%d" : "%d", out[i]);
        fprintf(js, "],\"greedy_text\":");
        // The continuation as text, each piece as llama.cpp renders it.
        size_t cap = 64 * (size_t) n_out + 1, used = 0;
        char * txt = xmalloc(cap);
        for (int32_t i = 0; i < n_out; ++i) {
            int32_t k = llama_token_to_piece(vocab, out[i], txt + used, (int32_t) (cap - used), 0, false);
            if (k < 0) die("--greedy: piece of token %d longer than 64 bytes", out[i]);
            used += (size_t) k;
        }
        json_string(js, txt, used);
        free(txt);
        free(out);
        free(prompt);
        llama_batch_free(batch);
        llama_free(ctx);
    }
    fprintf(js, "}\n");
    if (fclose(js)) die("JSON output: %s", strerror(errno));
    fwrite(json, 1, json_len, stdout);
    free(json);

    llama_model_free(model);
    llama_backend_free();
    return 0;
}
