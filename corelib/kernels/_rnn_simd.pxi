# float32 gate math of the recurrent kernels, in C so that it can be compiled
# for the CPU it runs on.
#
# After the gemms, the gate nonlinearities are the bulk of an LSTM/GRU step
# (an LSTM forward step evaluates five per unit; glibc's scalar tanhf costs
# ~15 ns). Here sigmoid and tanh come from a polynomial exp that GCC
# vectorizes, and the common configuration (tanh activation, sigmoid
# recurrent activation) gets one fused loop per row and direction. The
# kernels are built for the baseline x86-64 ISA, so each loop is compiled
# three times (SSE2, AVX2+FMA, AVX-512) and the variant is picked once at run
# time from the CPU's features (GCC/Clang on x86-64; one portable variant
# elsewhere). Accuracy: relative error < 2e-7 (a few float32 ulp), far
# inside the float32 tolerance of the layers. float64 keeps libm
# (_fmath.pxi), whose results the float64 tests pin.

cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    #define DL_INLINE static inline __attribute__((always_inline))
    #define DL_R __restrict__
    #else
    #define DL_INLINE static inline
    #define DL_R
    #endif
    /* The gate rows of one loop never overlap; without this GCC versions
       the fused loops on run-time overlap checks, and gives up (scalar code)
       once there are more pairs to check than its limit. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define DL_IVDEP _Pragma("GCC ivdep")
    #else
    #define DL_IVDEP
    #endif

    /* exp(x) for x in [-87, 88] (clamped): x = k ln2 + r, |r| <= ln2/2,
       exp(r) by Cephes's degree-6 polynomial, 2^k put into the exponent. */
    DL_INLINE float dl_expf_poly(float x) {
        x = x < -87.0f ? -87.0f : x;
        x = x > 88.0f ? 88.0f : x;
        float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        float r = x - k * 0.693359375f;
        r = r + k * 2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        int32_t bits = ((int32_t)k + 127) << 23;
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        return p * scale;
    }

    DL_INLINE float dl_sig1(float x) { return 1.0f / (1.0f + dl_expf_poly(-x)); }

    /* tanh: an odd polynomial (Cephes tanhf) below |x| = 0.625, where
       1 - 2 / (exp(2|x|) + 1) would lose relative precision; both are
       computed and one selected, which keeps the loops branch-free. */
    DL_INLINE float dl_tanh1(float x) {
        float a = x < 0.0f ? -x : x;
        float z = x * x;
        float s = -5.70498872745e-3f;
        s = s * z + 2.06390887954e-2f;
        s = s * z - 5.37397155531e-2f;
        s = s * z + 1.33314422036e-1f;
        s = s * z - 3.33332819422e-1f;
        s = s * z * x + x;
        a = a > 9.0f ? 9.0f : a;
        float l = 1.0f - 2.0f / (dl_expf_poly(2.0f * a) + 1.0f);
        l = x < 0.0f ? -l : l;
        return a < 0.625f ? s : l;
    }

    /* y may be x (in place): no restrict on these two. */
    DL_INLINE void dl_sigmoid_body(const float* x, float* y, int n) {
        for (int i = 0; i < n; i++) y[i] = dl_sig1(x[i]);
    }
    DL_INLINE void dl_tanh_body(const float* x, float* y, int n) {
        for (int i = 0; i < n; i++) y[i] = dl_tanh1(x[i]);
    }

    /* The fused loops address each gate through its own pointer: Python's
       CFLAGS carry -fwrapv, under which GCC cannot prove that g[U + j] and
       g[j] stay apart, and gives up vectorizing. */

    /* LSTM step of one row: g (4U) pre-activations less the bias (4U) ->
       activated gates; cp the previous cell; writes the new cell cn and
       state hn. */
    DL_INLINE void dl_lstm_fwd_body(float* DL_R g, const float* DL_R bias, const float* DL_R cp,
                                    float* DL_R cn, float* DL_R hn, int U) {
        float* DL_R gi = g;
        float* DL_R gf = g + U;
        float* DL_R gc = g + 2 * (ptrdiff_t)U;
        float* DL_R go = g + 3 * (ptrdiff_t)U;
        const float* DL_R bi = bias;
        const float* DL_R bf = bias + U;
        const float* DL_R bc = bias + 2 * (ptrdiff_t)U;
        const float* DL_R bo = bias + 3 * (ptrdiff_t)U;
        DL_IVDEP
        for (int j = 0; j < U; j++) {
            float i = dl_sig1(gi[j] + bi[j]), f = dl_sig1(gf[j] + bf[j]);
            float c = dl_tanh1(gc[j] + bc[j]), o = dl_sig1(go[j] + bo[j]);
            float cc = f * cp[j] + i * c;
            gi[j] = i; gf[j] = f; gc[j] = c; go[j] = o;
            cn[j] = cc;
            hn[j] = o * dl_tanh1(cc);
        }
    }

    /* Its gradient: dh, dc (in: w.r.t. this step's state and cell; out: dh
       reset to nxt, dc w.r.t. the previous cell) -> dg (4U), also added to
       bacc (4U, the bias gradient's running sum). */
    DL_INLINE void dl_lstm_bwd_body(const float* DL_R g, const float* DL_R cp, const float* DL_R cn,
                                    float* DL_R dh, float* DL_R dc, const float* DL_R nxt,
                                    float* DL_R dg, float* DL_R bacc, int U) {
        const float* DL_R gi = g;
        const float* DL_R gf = g + U;
        const float* DL_R gc = g + 2 * (ptrdiff_t)U;
        const float* DL_R go = g + 3 * (ptrdiff_t)U;
        float* DL_R di = dg;
        float* DL_R df = dg + U;
        float* DL_R dcc = dg + 2 * (ptrdiff_t)U;
        float* DL_R dgo = dg + 3 * (ptrdiff_t)U;
        float* DL_R ai = bacc;
        float* DL_R af = bacc + U;
        float* DL_R ac = bacc + 2 * (ptrdiff_t)U;
        float* DL_R ao = bacc + 3 * (ptrdiff_t)U;
        DL_IVDEP
        for (int j = 0; j < U; j++) {
            float i = gi[j], f = gf[j], c = gc[j], o = go[j];
            float tc = dl_tanh1(cn[j]), dhv = dh[j];
            float dct = dc[j] + dhv * o * (1.0f - tc * tc);
            float vi = dct * c * i * (1.0f - i), vf = dct * cp[j] * f * (1.0f - f);
            float vc = dct * i * (1.0f - c * c), vo = dhv * tc * o * (1.0f - o);
            di[j] = vi; df[j] = vf; dcc[j] = vc; dgo[j] = vo;
            ai[j] += vi; af[j] += vf; ac[j] += vc; ao[j] += vo;
            dc[j] = dct * f;
            dh[j] = nxt[j];
        }
    }

    /* GRU step (reset after the product) of one row: g (3U) input
       projections less the bias (3U) -> activated gates z, r, h~; rr (3U)
       the recurrent products with their bias; hp the previous state;
       writes hn. */
    DL_INLINE void dl_gru_fwd_body(float* DL_R g, const float* DL_R bias, const float* DL_R rr,
                                   const float* DL_R hp, float* DL_R hn, int U) {
        float* DL_R gz = g;
        float* DL_R gr = g + U;
        float* DL_R gn = g + 2 * (ptrdiff_t)U;
        const float* DL_R rz = rr;
        const float* DL_R rg = rr + U;
        const float* DL_R rn = rr + 2 * (ptrdiff_t)U;
        const float* DL_R bz = bias;
        const float* DL_R br = bias + U;
        const float* DL_R bn = bias + 2 * (ptrdiff_t)U;
        DL_IVDEP
        for (int j = 0; j < U; j++) {
            float z = dl_sig1(gz[j] + bz[j] + rz[j]), r = dl_sig1(gr[j] + br[j] + rg[j]);
            float n = dl_tanh1(gn[j] + bn[j] + r * rn[j]);
            gz[j] = z; gr[j] = r; gn[j] = n;
            hn[j] = z * hp[j] + (1.0f - z) * n;
        }
    }

    /* Its gradient: dg (input side) and drr (recurrent side), also added to
       bacc (6U: the running sums of both); dh becomes the part reaching the
       previous state directly, plus nxt. */
    DL_INLINE void dl_gru_bwd_body(const float* DL_R g, const float* DL_R rr, const float* DL_R hp,
                                   float* DL_R dh, const float* DL_R nxt, float* DL_R dg,
                                   float* DL_R drr, float* DL_R bacc, int U) {
        const float* DL_R gz = g;
        const float* DL_R gr = g + U;
        const float* DL_R gn = g + 2 * (ptrdiff_t)U;
        const float* DL_R rn = rr + 2 * (ptrdiff_t)U;
        float* DL_R dz_ = dg;
        float* DL_R dr_ = dg + U;
        float* DL_R dn_ = dg + 2 * (ptrdiff_t)U;
        float* DL_R ez = drr;
        float* DL_R er = drr + U;
        float* DL_R en = drr + 2 * (ptrdiff_t)U;
        float* DL_R az = bacc;
        float* DL_R ar = bacc + U;
        float* DL_R an = bacc + 2 * (ptrdiff_t)U;
        float* DL_R ez2 = bacc + 3 * (ptrdiff_t)U;
        float* DL_R er2 = bacc + 4 * (ptrdiff_t)U;
        float* DL_R en2 = bacc + 5 * (ptrdiff_t)U;
        DL_IVDEP
        for (int j = 0; j < U; j++) {
            float z = gz[j], r = gr[j], n = gn[j], dhv = dh[j];
            float dn = dhv * (1.0f - z) * (1.0f - n * n);
            float dz = dhv * (hp[j] - n) * z * (1.0f - z);
            float dr = dn * rn[j] * r * (1.0f - r);
            dz_[j] = dz; dr_[j] = dr; dn_[j] = dn;
            ez[j] = dz; er[j] = dr; en[j] = dn * r;
            az[j] += dz; ar[j] += dr; an[j] += dn; ez2[j] += dz; er2[j] += dr; en2[j] += dn * r;
            dh[j] = dhv * z + nxt[j];
        }
    }

    typedef struct {
        void (*sigmoid)(const float*, float*, int);
        void (*tanh)(const float*, float*, int);
        void (*lstm_fwd)(float*, const float*, const float*, float*, float*, int);
        void (*lstm_bwd)(const float*, const float*, const float*, float*, float*, const float*,
                         float*, float*, int);
        void (*gru_fwd)(float*, const float*, const float*, const float*, float*, int);
        void (*gru_bwd)(const float*, const float*, const float*, float*, const float*, float*,
                        float*, float*, int);
    } dl_rnn_isa;

    #define DL_RNN_ISA(SFX, ATTR)                                                             \\
        ATTR static void dl_sigmoid_##SFX(const float* x, float* y, int n) {                 \\
            dl_sigmoid_body(x, y, n); }                                                       \\
        ATTR static void dl_tanh_##SFX(const float* x, float* y, int n) {                    \\
            dl_tanh_body(x, y, n); }                                                          \\
        ATTR static void dl_lstm_fwd_##SFX(float* g, const float* bias, const float* cp,      \\
                                           float* cn, float* hn, int U) {                     \\
            dl_lstm_fwd_body(g, bias, cp, cn, hn, U); }                                       \\
        ATTR static void dl_lstm_bwd_##SFX(const float* g, const float* cp, const float* cn,  \\
                                           float* dh, float* dc, const float* nxt, float* dg, \\
                                           float* bacc, int U) {                              \\
            dl_lstm_bwd_body(g, cp, cn, dh, dc, nxt, dg, bacc, U); }                          \\
        ATTR static void dl_gru_fwd_##SFX(float* g, const float* bias, const float* rr,       \\
                                          const float* hp, float* hn, int U) {                \\
            dl_gru_fwd_body(g, bias, rr, hp, hn, U); }                                        \\
        ATTR static void dl_gru_bwd_##SFX(const float* g, const float* rr, const float* hp,   \\
                                          float* dh, const float* nxt, float* dg, float* drr, \\
                                          float* bacc, int U) {                               \\
            dl_gru_bwd_body(g, rr, hp, dh, nxt, dg, drr, bacc, U); }                          \\
        static const dl_rnn_isa dl_rnn_##SFX = {dl_sigmoid_##SFX, dl_tanh_##SFX,              \\
            dl_lstm_fwd_##SFX, dl_lstm_bwd_##SFX, dl_gru_fwd_##SFX, dl_gru_bwd_##SFX};

    DL_RNN_ISA(base, )
    #if defined(__GNUC__) && defined(__x86_64__)
    DL_RNN_ISA(avx2, __attribute__((target("avx2,fma"))))
    DL_RNN_ISA(avx512, __attribute__((target("avx512f,avx512dq,avx2,fma"))))
    #endif

    static const dl_rnn_isa* dl_rnn_impl = NULL;

    /* The variant for this CPU, picked on first use (several threads may
       pick at once: they store the same pointer). */
    static inline const dl_rnn_isa* dl_rnn(void) {
        if (dl_rnn_impl == NULL) {
            const dl_rnn_isa* pick = &dl_rnn_base;
    #if defined(__GNUC__) && defined(__x86_64__)
            __builtin_cpu_init();
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
                pick = &dl_rnn_avx512;
            else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                pick = &dl_rnn_avx2;
    #endif
            dl_rnn_impl = pick;
        }
        return dl_rnn_impl;
    }

    static inline void dl_sigmoidf(const float* x, float* y, int n) { dl_rnn()->sigmoid(x, y, n); }
    static inline void dl_tanhf(const float* x, float* y, int n) { dl_rnn()->tanh(x, y, n); }
    static inline void dl_lstm_fwd_row(float* g, const float* bias, const float* cp, float* cn,
                                       float* hn, int U) {
        dl_rnn()->lstm_fwd(g, bias, cp, cn, hn, U); }
    static inline void dl_lstm_bwd_row(const float* g, const float* cp, const float* cn, float* dh,
                                       float* dc, const float* nxt, float* dg, float* bacc, int U) {
        dl_rnn()->lstm_bwd(g, cp, cn, dh, dc, nxt, dg, bacc, U); }
    static inline void dl_gru_fwd_row(float* g, const float* bias, const float* rr, const float* hp,
                                      float* hn, int U) {
        dl_rnn()->gru_fwd(g, bias, rr, hp, hn, U); }
    static inline void dl_gru_bwd_row(const float* g, const float* rr, const float* hp, float* dh,
                                      const float* nxt, float* dg, float* drr, float* bacc, int U) {
        dl_rnn()->gru_bwd(g, rr, hp, dh, nxt, dg, drr, bacc, U); }
    """
    void dl_sigmoidf(const float* x, float* y, int n) noexcept nogil
    void dl_tanhf(const float* x, float* y, int n) noexcept nogil
    void dl_lstm_fwd_row(float* g, const float* bias, const float* cp, float* cn, float* hn,
                         int U) noexcept nogil
    void dl_lstm_bwd_row(const float* g, const float* cp, const float* cn, float* dh, float* dc,
                         const float* nxt, float* dg, float* bacc, int U) noexcept nogil
    void dl_gru_fwd_row(float* g, const float* bias, const float* rr, const float* hp, float* hn,
                        int U) noexcept nogil
    void dl_gru_bwd_row(const float* g, const float* rr, const float* hp, float* dh, const float* nxt,
                        float* dg, float* drr, float* bacc, int U) noexcept nogil
