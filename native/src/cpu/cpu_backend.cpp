// CPU backend: the Llama forward pass over a batch of tokens from any number of sequences. Matrix products see the
// whole batch at once (GEMM, so prompt processing reuses each weight row across tokens); attention runs per token
// over that token's own sequence. All buffers are sized at construction for n_batch tokens; decode() allocates
// nothing. Every step is batch-invariant (see kernels.h), so a token's logits do not depend on what else was in its
// batch, how a prompt was split, or the thread count.
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../backend.h"
#include "../common.h"
#include "../kernels/kernels.h"
#include "../kernels/mlx_affine.h"
#include "../threadpool.h"

namespace mlxb {

namespace {

bool is_quantized(TensorType t) { return t == TensorType::Q8_0 || t == TensorType::Q4_0; }

// out = x * w / rms(x), over n elements; in place is fine.
void rms_norm_row(const float * x, const float * w, float * out, int64_t n, float eps) {
    double ss = 0;  // double like ggml: the sum of n squares loses bits in float
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float scale = 1.0f / std::sqrt((float)(ss / n) + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

// The model's matrices repacked for one kernel table (Kernels::pack), in one anonymous mapping backed by huge pages
// where the kernel allows: decode streams every weight once per token, and 2 MiB pages spare the TLB misses.
struct PackedWeights {
    void * mem = nullptr;
    size_t bytes = 0;
    std::vector<const void *> ptr;  // per matrix, in the order of for_each_matrix()
    ~PackedWeights() {
        if (mem) ::munmap(mem, bytes);
    }
};

// Every matrix the forward pass multiplies by, in a fixed order.
template <class F> void for_each_matrix(const Model & m, F && f) {
    for (const Layer & L : m.layers)
        for (const Weight * w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) f(*w);
    f(m.output);
}

// An MLX matrix among the packed weights: its MlxQuant in the first 64 bytes (panels pointing behind it when the
// table's MLX product packs; else it reads MLX's layout as mapped), then the product's packed form.
constexpr size_t k_mlx_header = 64;
static_assert(sizeof(MlxQuant) <= k_mlx_header);
size_t mlx_bytes(const Weight & w, const MlxProduct & P) {
    return k_mlx_header + (P.pack ? P.packed_bytes(w.mlx, w.rows, w.cols) : 0);
}

std::shared_ptr<PackedWeights> pack_weights(const Model & m, const Kernels & K, const MlxProduct & mlx, ThreadPool & pool) {
    auto pw = std::make_shared<PackedWeights>();
    std::vector<size_t> off;
    size_t total = 0;
    for_each_matrix(m, [&](const Weight & w) {
        off.push_back(total);
        // A table that reads its own types as mapped (panel_rows 1) may still host an MLX product that packs.
        const size_t own = K.panel_rows > 1 ? K.packed_bytes(w.type, w.rows, w.cols) : 0;
        total += ((w.type == k_mlx_affine ? mlx_bytes(w, mlx) : own) + 63) & ~(size_t)63;
    });
    const size_t huge = (size_t)2 << 20;
    pw->bytes = std::max<size_t>((total + huge - 1) / huge * huge, huge);
    void * mem = ::mmap(nullptr, pw->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) fail(MLXB_ERR_NOMEM, "cannot map " + std::to_string(pw->bytes >> 20) + " MiB for the repacked weights");
    pw->mem = mem;
#ifdef MADV_HUGEPAGE
    ::madvise(mem, pw->bytes, MADV_HUGEPAGE);
#endif
    size_t i = 0;
    for_each_matrix(m, [&](const Weight & w) {
        void * dst = (uint8_t *)mem + off[i++];
        const bool is_mlx = w.type == k_mlx_affine;
        if (!is_mlx && K.panel_rows <= 1) return pw->ptr.push_back(w.data);  // read as mapped
        pw->ptr.push_back(dst);
        if (is_mlx) {
            MlxQuant h = w.mlx;
            if (mlx.pack) h.panels = (uint8_t *)dst + k_mlx_header;
            std::memcpy(dst, &h, sizeof h);
            if (!mlx.pack) return;
        }
        const int64_t rows_per = is_mlx ? mlx.panel_rows : K.panel_rows, panels = (w.rows + rows_per - 1) / rows_per;
        pool.run([&](int ith, int nth) {
            int64_t p0, p1;
            ThreadPool::split(panels, ith, nth, 1, &p0, &p1);
            if (p1 <= p0) return;
            if (is_mlx) mlx.pack(w.mlx, w.rows, w.cols, p0, p1, (uint8_t *)dst + k_mlx_header);
            else K.pack(w.type, w.data, w.rows, w.cols, p0, p1, dst);
        });
    });
    // The mapped originals are not read again (the embedding lookup reads token_embd, which stays; a table or an
    // MLX product that does not pack reads them as mapped): let them go.
    for_each_matrix(m, [&](const Weight & w) {
        if (w.data == m.tok_embd.data) return;
        if (w.type != k_mlx_affine) {
            if (K.panel_rows > 1) m.release(w.data, (size_t)(w.rows * w.row_bytes));
            return;
        }
        if (!mlx.pack) return;
        const size_t groups = (size_t)(w.rows * (w.cols / w.mlx.group));
        m.release(w.mlx.q, (size_t)(w.rows * w.cols * w.mlx.bits / 8));
        m.release(w.mlx.scales, groups * 2);
        m.release(w.mlx.biases, groups * 2);
    });
    return pw;
}

// An activation matrix (n_tok, cols) and, once a quantized weight needs it, its Q8 copy.
struct Act {
    const float * f;
    BlockQ8x * q;
    int64_t n_tok, cols;
    bool q_ready = false;
};

class CpuBackend final : public Backend {
    struct LayerData { const void * wq, * wk, * wv, * wo, * gate, * up, * down; };

public:
    CpuBackend(const Model & m, const BackendParams & p);
    void decode(const DecodeInput & in) override;
    void seq_copy(int32_t src, int32_t dst, int32_t n) override;
    void set_threads(int32_t n) override {
        pool_ = std::make_unique<ThreadPool>(n);
        const size_t per = attn_scratch_floats(n_ctx_, hp_.head_dim);
        scores_.assign((size_t)n * per, 0.0f);
        scores_per_thread_ = per;
    }
    int32_t n_threads() const override { return pool_->size(); }

private:
    // K of one (sequence, layer, kv head): n_ctx positions in tiles of k_kv_tile (kernels.h). V rows of one
    // (sequence, layer): (n_ctx, kv_dim).
    float * kcache(int32_t seq, int32_t il, int64_t kvh) {
        return kc_.data() + (((size_t)seq * hp_.n_layer + il) * hp_.n_head_kv + kvh) * k_head_floats_;
    }
    float * vcache(int32_t seq, int32_t il) { return vc_.data() + ((size_t)seq * hp_.n_layer + il) * n_ctx_ * hp_.kv_dim(); }

    void quantize(Act & a);
    // y (n_tok, W.rows) rows [r0, r1) = x (n_tok, W.cols) . W^T
    const void * packed(const Weight & W) const;  // W's data as the kernels read it (at construction only)
    void gemm(const Weight & W, const void * data, const BlockQ8x * xq, const float * xf, float * y, int64_t n_tok,
              int64_t r0, int64_t r1) {
        if (r1 <= r0) return;  // a thread past the last panel (more threads than panels): the kernels need rows
        if (W.type == k_mlx_affine)  // data: the MlxQuant header among the packed weights, or W's own when nothing is packed
            return mlx_.gemm(packed_ ? *(const MlxQuant *)data : W.mlx, W.cols, xf, y, n_tok, r0, r1, W.rows);
        K_.gemm(W.type, data, xf, xq, y, W.rows, W.cols, n_tok, r0, r1, W.rows);
    }
    // Row ranges of one thread: whole panels, so no output's arithmetic depends on the thread count.
    int64_t row_align(int64_t n_tok) const {
        return K_.panel_rows > 1 ? K_.panel_rows : mlx_packs_ ? mlx_.panel_rows : n_tok == 1 ? 4 : 6;
    }
    void rmsnorm(const float * x, const float * w, float * out, int64_t n_tok);
    // only_out: the last layer, for the rows that asked for logits only (see decode).
    void attention_block(const Layer & L, const LayerData & D, int32_t il, const DecodeInput & in, bool only_out);
    void ffn_block(const Layer & L, const LayerData & D);
    void rope(float * v, int32_t n_heads, int32_t pos);

    const Model & m_;
    const HParams & hp_;
    const Kernels & K_;
    const MlxProduct & mlx_;  // the MLX affine product that goes with K_
    bool mlx_packs_ = false;  // the model has MLX matrices and mlx_ packs them
    int32_t n_ctx_, n_seq_, n_batch_;
    std::unique_ptr<ThreadPool> pool_;
    int64_t n_;  // tokens in the current batch

    std::shared_ptr<PackedWeights> packed_;  // null when the kernels use the weights as mapped
    std::vector<const Weight *> matrices_;  // for_each_matrix order (packed_->ptr's)
    std::vector<LayerData> layer_w_;         // what the kernels read, per layer
    const void * output_w_ = nullptr;
    size_t k_head_floats_ = 0;              // n_ctx rounded up to whole tiles, x head_dim
    std::vector<float> kc_, vc_;          // (n_seq, n_layer, n_ctx, kv_dim) each
    std::vector<float> rope_cos_, rope_sin_;  // (n_ctx, n_rot/2)
    // Scratch, (n_batch, width) each.
    std::vector<float> x_, xb_, q_, k_, v_, att_, hg_, hu_;
    std::vector<BlockQ8x> xq_;
    std::vector<float> scores_;           // (n_threads, n_ctx * k_attn_block) attention scores
    size_t scores_per_thread_ = 0;
    // Runs of batch tokens that are consecutive positions of one sequence (a prompt), cut into attention blocks.
    struct AttnBlock { int32_t t0, nq; };
    std::vector<AttnBlock> blocks_;       // reserved for n_batch entries
    std::vector<int32_t> out_seq_, out_pos_;  // (n_batch) sequence and position of each row kept by only_out
};

CpuBackend::CpuBackend(const Model & m, const BackendParams & p)
    : m_(m), hp_(m.hp), K_(kernels_for_new_context()), mlx_(mlx_product_for(K_)), n_ctx_(p.n_ctx), n_seq_(p.n_seq), n_batch_(p.n_batch) {
    k_head_floats_ = (size_t)(n_ctx_ + k_kv_tile - 1) / k_kv_tile * k_kv_tile * hp_.head_dim;
    kc_.assign((size_t)n_seq_ * hp_.n_layer * hp_.n_head_kv * k_head_floats_, 0.0f);
    vc_.assign((size_t)n_seq_ * hp_.n_layer * n_ctx_ * hp_.kv_dim(), 0.0f);
    const int half = hp_.n_rot / 2;
    rope_cos_.resize((size_t)n_ctx_ * half);
    rope_sin_.resize((size_t)n_ctx_ * half);
    for (int32_t pos = 0; pos < n_ctx_; pos++)
        for (int j = 0; j < half; j++) {
            const double inv = hp_.rope_inv_freq.empty() ? std::pow((double)hp_.rope_base, -2.0 * j / hp_.n_rot) : hp_.rope_inv_freq[j];
            double theta = pos * inv;
            rope_cos_[(size_t)pos * half + j] = (float)std::cos(theta);
            rope_sin_[(size_t)pos * half + j] = (float)std::sin(theta);
        }
    const size_t B = n_batch_;
    const int64_t E = hp_.n_embd, Q = hp_.q_dim(), KV = hp_.kv_dim(), F = hp_.n_ff;
    x_.assign(B * E, 0);
    xb_.assign(B * std::max(E, Q), 0);
    q_.assign(B * Q, 0);
    k_.assign(B * KV, 0);
    v_.assign(B * KV, 0);
    att_.assign(B * Q, 0);
    hg_.assign(B * F, 0);
    hu_.assign(B * F, 0);
    xq_.resize(B * ((std::max({E, Q, F}) + QK - 1) / QK));
    blocks_.reserve(B);
    out_seq_.resize(B);
    out_pos_.resize(B);
    set_threads(p.n_threads);
    // An MLX product that packs needs row ranges (row_align) of whole panels: its own when the table reads its
    // types as mapped (any row range suits those), else the table's, which must then be made of its panels.
    for_each_matrix(m_, [&](const Weight & w) { mlx_packs_ |= w.type == k_mlx_affine && mlx_.pack; });
    if (mlx_packs_ && K_.panel_rows > 1 && K_.panel_rows % mlx_.panel_rows)
        fail(MLXB_ERR_INTERNAL, std::string("kernel table ") + K_.name + " cannot host its MLX product's panels");
    if (K_.panel_rows > 1 || mlx_packs_) {
        packed_ = std::static_pointer_cast<PackedWeights>(m_.derived(std::string("packed:") + K_.name, [&] {
            return std::static_pointer_cast<void>(pack_weights(m_, K_, mlx_, *pool_));
        }));
        for_each_matrix(m_, [&](const Weight & w) { matrices_.push_back(&w); });
    }
    for (const Layer & L : m_.layers)
        layer_w_.push_back({packed(L.wq), packed(L.wk), packed(L.wv), packed(L.wo), packed(L.w_gate), packed(L.w_up), packed(L.w_down)});
    output_w_ = packed(m_.output);
}

const void * CpuBackend::packed(const Weight & W) const {
    if (!packed_) return W.data;
    for (size_t i = 0; i < matrices_.size(); i++)
        if (matrices_[i] == &W) return packed_->ptr[i];
    fail(MLXB_ERR_INTERNAL, "weight without a packed form");
}

void CpuBackend::seq_copy(int32_t src, int32_t dst, int32_t n) {
    const size_t vlen = (size_t)n * hp_.kv_dim();
    const size_t klen = (size_t)(n + k_kv_tile - 1) / k_kv_tile * k_kv_tile * hp_.head_dim;  // whole tiles
    for (int32_t il = 0; il < hp_.n_layer; il++) {
        for (int32_t h = 0; h < hp_.n_head_kv; h++) std::copy_n(kcache(src, il, h), klen, kcache(dst, il, h));
        std::copy_n(vcache(src, il), vlen, vcache(dst, il));
    }
}

void CpuBackend::quantize(Act & a) {
    if (a.q_ready) return;
    const int64_t nb = a.cols / QK;
    if (a.n_tok < 8) {
        for (int64_t t = 0; t < a.n_tok; t++) K_.quantize_q8x(a.f + t * a.cols, a.q + t * nb, a.cols);
    } else {
        pool_->run([&](int ith, int nth) {
            int64_t t0, t1;
            ThreadPool::split(a.n_tok, ith, nth, 1, &t0, &t1);
            for (int64_t t = t0; t < t1; t++) K_.quantize_q8x(a.f + t * a.cols, a.q + t * nb, a.cols);
        });
    }
    a.q_ready = true;
}

void CpuBackend::rmsnorm(const float * x, const float * w, float * out, int64_t n_tok) {
    const int64_t E = hp_.n_embd;
    for (int64_t t = 0; t < n_tok; t++) rms_norm_row(x + t * E, w, out + t * E, E, hp_.norm_eps);
}

void CpuBackend::rope(float * v, int32_t n_heads, int32_t pos) {
    const int half = hp_.n_rot / 2;
    const float * c = &rope_cos_[(size_t)pos * half];
    const float * s = &rope_sin_[(size_t)pos * half];
    for (int32_t h = 0; h < n_heads; h++) {
        float * hv = v + (size_t)h * hp_.head_dim;
        for (int j = 0; j < half; j++) {
            const int i0 = hp_.rope_neox ? j : 2 * j, i1 = hp_.rope_neox ? j + half : 2 * j + 1;
            const float x0 = hv[i0], x1 = hv[i1];
            hv[i0] = x0 * c[j] - x1 * s[j];
            hv[i1] = x0 * s[j] + x1 * c[j];
        }
    }
}

// norm, q/k/v projections (+bias), rotary positions, cache store, attention over the cache, output projection,
// residual.
void CpuBackend::attention_block(const Layer & L, const LayerData & D, int32_t il, const DecodeInput & in, bool only_out) {
    const int64_t E = hp_.n_embd, Q = hp_.q_dim(), KV = hp_.kv_dim(), HD = hp_.head_dim;
    int64_t n = n_;
    rmsnorm(x_.data(), L.attn_norm, xb_.data(), n);
    Act a{xb_.data(), xq_.data(), n, E};
    if (is_quantized(L.wq.type) || is_quantized(L.wk.type) || is_quantized(L.wv.type)) quantize(a);
    const int64_t align = row_align(n);
    pool_->run([&](int ith, int nth) {
        struct Proj { const Weight * w; const void * data; float * y; const float * bias; };
        const Proj proj[3] = {{&L.wq, D.wq, q_.data(), L.bq}, {&L.wk, D.wk, k_.data(), L.bk}, {&L.wv, D.wv, v_.data(), L.bv}};
        for (const Proj & pr : proj) {
            const Weight & W = *pr.w;
            int64_t r0, r1;
            ThreadPool::split(W.rows, ith, nth, align, &r0, &r1);
            float * y = pr.y;
            gemm(W, pr.data, a.q, a.f, y, n, r0, r1);
            if (const float * b = pr.bias)
                for (int64_t t = 0; t < n; t++)
                    for (int64_t r = r0; r < r1; r++) y[t * W.rows + r] += b[r];
        }
    });
    // Rotate q and k (Qwen3 normalises each head first), then store k and v at each token's position in its
    // sequence's cache.
    auto norm_heads = [&](float * v, int32_t n_heads, const float * w) {
        for (int32_t h = 0; h < n_heads; h++) rms_norm_row(v + h * HD, w, v + h * HD, HD, hp_.norm_eps);
    };
    auto rope_store = [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            if (L.q_norm) norm_heads(&q_[t * Q], hp_.n_head, L.q_norm);
            if (L.k_norm) norm_heads(&k_[t * KV], hp_.n_head_kv, L.k_norm);
            rope(&q_[t * Q], hp_.n_head, in.pos[t]);
            rope(&k_[t * KV], hp_.n_head_kv, in.pos[t]);
            for (int32_t h = 0; h < hp_.n_head_kv; h++) {
                float * kc = kcache(in.seq[t], il, h);
                for (int32_t d = 0; d < HD; d++) kc[k_tile_index(in.pos[t], d, (int32_t)HD)] = k_[t * KV + h * HD + d];
            }
            std::copy_n(&v_[t * KV], KV, vcache(in.seq[t], il) + (size_t)in.pos[t] * KV);
        }
    };
    if (n < 4) rope_store(0, n);
    else pool_->run([&](int ith, int nth) { int64_t t0, t1; ThreadPool::split(n, ith, nth, 1, &t0, &t1); rope_store(t0, t1); });

    // Every row's k and v are in the cache; from here on only_out keeps the rows that asked for logits, moved to the
    // front in batch order (row out_row[t]), for the rest of the layer: no other row's result is read. Each kept
    // row's arithmetic is the same whatever rows surround it (batch-invariant kernels), so its logits are unchanged.
    const int32_t * seq = in.seq, * pos = in.pos;
    if (only_out) {
        int64_t j = 0;
        for (int64_t t = 0; t < n; t++) {
            if (in.out_row[t] < 0) continue;
            if (j != t) {
                std::copy_n(&q_[t * Q], Q, &q_[j * Q]);
                std::copy_n(&x_[t * E], E, &x_[j * E]);
            }
            out_seq_[j] = in.seq[t];
            out_pos_[j] = in.pos[t];
            j++;
        }
        n_ = n = j;
        seq = out_seq_.data();
        pos = out_pos_.data();
    }
    const int64_t align_out = row_align(n);

    // Attention; kv head = head / (n_head / n_head_kv). Work items (block, head) are dealt out round-robin: a
    // query's cost grows with its position, so contiguous ranges would leave one thread the late, expensive ones.
    const int32_t group = hp_.n_head / hp_.n_head_kv;
    const float scale = 1.0f / std::sqrt((float)HD);
    // Consecutive positions of one sequence go through attend_block k_attn_block queries at a time (prompts);
    // everything else (decode steps of many sequences) one query at a time.
    blocks_.clear();
    for (int32_t t = 0; t < n;) {
        int32_t e = t + 1;
        while (e < n && e - t < k_attn_block && seq[e] == seq[t] && pos[e] == pos[e - 1] + 1) e++;
        blocks_.push_back({t, e - t});
        t = e;
    }
    const int64_t n_items = (int64_t)blocks_.size() * hp_.n_head;
    auto attend = [&](int ith, int nth) {
        float * sc = &scores_[(size_t)ith * scores_per_thread_];
        for (int64_t w = ith; w < n_items; w += nth) {
            const AttnBlock & b = blocks_[w / hp_.n_head];
            const int64_t h = w % hp_.n_head, kvh = h / group, t = b.t0;
            const float * kc = kcache(seq[t], il, kvh);
            const float * vc = vcache(seq[t], il) + kvh * HD;
            if (b.nq == 1)
                K_.attend(&q_[t * Q + h * HD], kc, vc, KV, pos[t] + 1, (int32_t)HD, scale, &att_[t * Q + h * HD], sc);
            else
                K_.attend_block(&q_[t * Q + h * HD], Q, b.nq, pos[t], kc, vc, KV, (int32_t)HD, scale,
                                &att_[t * Q + h * HD], Q, sc);
        }
    };
    pool_->run(attend);

    Act ao{att_.data(), xq_.data(), n, Q};
    if (is_quantized(L.wo.type)) quantize(ao);
    pool_->run([&](int ith, int nth) {
        int64_t r0, r1;
        ThreadPool::split(E, ith, nth, align_out, &r0, &r1);
        gemm(L.wo, D.wo, ao.q, ao.f, xb_.data(), n, r0, r1);
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = r0; r < r1; r++) x_[t * E + r] += xb_[t * E + r];
    });
}

// norm, gate and up projections, SwiGLU, down projection, residual.
void CpuBackend::ffn_block(const Layer & L, const LayerData & D) {
    const int64_t E = hp_.n_embd, F = hp_.n_ff, n = n_;
    const int64_t align = row_align(n);
    rmsnorm(x_.data(), L.ffn_norm, xb_.data(), n);
    Act a{xb_.data(), xq_.data(), n, E};
    if (is_quantized(L.w_gate.type) || is_quantized(L.w_up.type)) quantize(a);
    pool_->run([&](int ith, int nth) {
        int64_t r0, r1;
        ThreadPool::split(F, ith, nth, align, &r0, &r1);
        gemm(L.w_gate, D.gate, a.q, a.f, hg_.data(), n, r0, r1);
        gemm(L.w_up, D.up, a.q, a.f, hu_.data(), n, r0, r1);
        for (int64_t t = 0; t < n; t++) K_.silu_mul(&hg_[t * F + r0], &hu_[t * F + r0], r1 - r0);  // silu(gate) * up
    });
    Act h{hg_.data(), xq_.data(), n, F};
    if (is_quantized(L.w_down.type)) quantize(h);
    pool_->run([&](int ith, int nth) {
        int64_t r0, r1;
        ThreadPool::split(E, ith, nth, align, &r0, &r1);
        gemm(L.w_down, D.down, h.q, h.f, xb_.data(), n, r0, r1);
        for (int64_t t = 0; t < n; t++)
            for (int64_t r = r0; r < r1; r++) x_[t * E + r] += xb_[t * E + r];
    });
}

void CpuBackend::decode(const DecodeInput & in) {
    n_ = in.n_tokens;
    const int64_t E = hp_.n_embd, n = n_;
    // Embedding lookup.
    for (int64_t t = 0; t < n; t++)
        if (m_.tok_embd.type == k_mlx_affine) mlx_dequantize_row(m_.tok_embd.mlx, E, in.tokens[t], &x_[t * E]);
        else dequantize_row(m_.tok_embd.type, (const uint8_t *)m_.tok_embd.data + in.tokens[t] * m_.tok_embd.row_bytes,
                       &x_[t * E], E);
    // The last layer computes only the rows that asked for logits once their k and v are stored (as llama.cpp's
    // inp_out_ids): nothing reads the others' output. A scored prompt's context (echo_logprobs_from) skips it.
    const bool only_out = in.n_out > 0 && in.n_out < n;
    for (int32_t il = 0; il < hp_.n_layer; il++) {
        const Layer & L = m_.layers[il];
        attention_block(L, layer_w_[il], il, in, only_out && il == hp_.n_layer - 1);
        ffn_block(L, layer_w_[il]);
    }
    if (in.n_out == 0) return;
    // Final norm and classifier, only for the rows that asked for logits (gathered so the GEMM sees them densely;
    // after only_out they are rows 0..n_out-1 already).
    int64_t j = 0;
    if (only_out) std::copy_n(x_.data(), (j = in.n_out) * E, xb_.data());
    else
        for (int64_t t = 0; t < n; t++)
            if (in.out_row[t] >= 0) std::copy_n(&x_[t * E], E, &xb_[in.out_row[t] * E]), j++;
    rmsnorm(xb_.data(), m_.out_norm, xb_.data(), j);  // in place
    Act a{xb_.data(), xq_.data(), j, E};
    if (is_quantized(m_.output.type)) quantize(a);
    const int64_t align = row_align(j);
    pool_->run([&](int ith, int nth) {
        int64_t r0, r1;
        ThreadPool::split(hp_.n_vocab, ith, nth, align, &r0, &r1);
        gemm(m_.output, output_w_, a.q, a.f, in.logits, j, r0, r1);
    });
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Model & model, const BackendParams & p) {
    if (model.layers.empty()) fail(MLXB_ERR_ARG, "model was loaded vocab-only: no weights to compute with");
    try {
        return std::make_unique<CpuBackend>(model, p);
    } catch (const std::bad_alloc &) {
        fail(MLXB_ERR_NOMEM, "out of memory allocating the KV cache and scratch buffers");
    }
}

#if !defined(MLXB_HAVE_METAL)
std::unique_ptr<Backend> make_backend(const Model & model, const BackendParams & p) { return make_cpu_backend(model, p); }
#endif

}  // namespace mlxb
