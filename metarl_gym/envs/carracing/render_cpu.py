"""The CPU frame kernel: :class:`~.render.Renderer`'s drawing as one C++ loop over rows and pixels (OpenMP).

torch.compile's fused kernel for the same drawing gathers the texture one scalar at a time through many
intermediate buffers; this hand-written loop keeps each pixel's few dozen operations in registers and is several
times faster (benchmarks/RESULTS.md). It is built once per machine with ``torch.utils.cpp_extension.load_inline``
(the C++ compiler torch.compile needs too; cached in torch's extension directory) and checked against the torch
drawing in tests/envs/test_carracing.py. Where it cannot be built, :func:`kernel` returns None and the torch
drawing runs (a warning says so); CUDA always uses the torch drawing.
"""

from __future__ import annotations

import functools
import warnings


SOURCE = r"""
#include <torch/extension.h>
#include <cmath>
#include <algorithm>

static inline void ground_colour(float wx, float wy, float inv_grass, float playfield, float* rgb) {
    // background / grass squares (every other GRASS_DIM cell, -20..19) / black beyond the playfield
    if (std::fabs(wx) > playfield || std::fabs(wy) > playfield) { rgb[0] = rgb[1] = rgb[2] = 0.f; return; }
    const int gx = (int)std::floor(wx * inv_grass), gy = (int)std::floor(wy * inv_grass);
    const bool grass = ((gx | gy) & 1) == 0 && gx >= -20 && gx < 20 && gy >= -20 && gy < 20;
    rgb[0] = 102.f; rgb[1] = grass ? 230.f : 204.f; rgb[2] = 102.f;
}

torch::Tensor render(torch::Tensor keys, torch::Tensor slots, torch::Tensor state, torch::Tensor steps,
                     torch::Tensor speed, torch::Tensor table, torch::Tensor hull, torch::Tensor zoom,
                     std::vector<int64_t> wheel_windows, double texel, double extent, double grass_dim,
                     double playfield, bool antialias, int64_t car_r0, int64_t car_c0, int64_t sub) {
    const int64_t B = state.size(0), D = state.size(1), size = keys.size(1), width = table.size(1);
    const int64_t HY = hull.size(1), HX = hull.size(2);
    auto out = torch::zeros({B, 96, 96, 3}, torch::kFloat32);
    const int16_t* K = keys.data_ptr<int16_t>();
    const int64_t* S = slots.data_ptr<int64_t>();
    const float* X = state.data_ptr<float>();
    const float* ST = steps.data_ptr<float>();
    const float* SP = speed.data_ptr<float>();
    const float* T = table.data_ptr<float>();
    const float* HU = hull.data_ptr<float>();
    const float* Z = zoom.data_ptr<float>();
    float* O = out.data_ptr<float>();
    const float W = 1000.f, H = 800.f, t = (float)texel, ext = (float)extent, inv_grass = 1.f / (float)grass_dim;
    const float wheel_x[4] = {-55 * 0.02f, 55 * 0.02f, -55 * 0.02f, 55 * 0.02f};
    const float wheel_y[4] = {80 * 0.02f, 80 * 0.02f, -82 * 0.02f, -82 * 0.02f};
    const float hw = 14 * 0.02f, hl = 27 * 0.02f;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
        const float* s = X + b * D;
        const float x = s[0], y = s[1], angle = s[2], zoom_b = Z[b];
        const float c = std::cos(angle), sn = std::sin(angle), k = 1.f / (zoom_b * t);
        const int16_t* key = K + S[b] * size * size;
        const float* tab = T + b * width;
        float* o = O + b * 96 * 96 * 3;
        const float u_base = (x + ext) / t - (antialias ? 0.5f : 0.f);
        const float v_base = (y + ext) / t - (antialias ? 0.5f : 0.f);
        const float ck = c * k, sk = sn * k;
        for (int64_t i = 0; i < 84; ++i) {
            const float oy = H - (i + 0.5f) * H / 96.f - H / 4.f;
            const float u_row = u_base - sk * oy, v_row = v_base + ck * oy;
            for (int64_t j = 0; j < 96; ++j) {
                const float ox = (j + 0.5f) * W / 96.f - W / 2.f;
                const float u = u_row + ck * ox;
                const float v = v_row + sk * ox;
                float rgb[3] = {0.f, 0.f, 0.f};
                if (antialias) {
                    const float u0 = std::floor(u), v0 = std::floor(v), fu = u - u0, fv = v - v0;
                    for (int du = 0; du < 2; ++du) for (int dv = 0; dv < 2; ++dv) {
                        const float uu = u0 + du, vv = v0 + dv;
                        const float w = (du ? fu : 1.f - fu) * (dv ? fv : 1.f - fv);
                        float val = 0.f;
                        if (uu >= 0 && uu < size && vv >= 0 && vv < size) {
                            const int16_t kk = key[(int64_t)vv * size + (int64_t)uu];
                            if (kk >= 0) val = tab[kk];
                        }
                        if (val > 0.f) { rgb[0] += w * val; rgb[1] += w * val; rgb[2] += w * val; }
                        else if (val < 0.f) { rgb[0] += w * 255.f; }
                        else {
                            float g[3];
                            ground_colour((uu + 0.5f) * t - ext, (vv + 0.5f) * t - ext, inv_grass, (float)playfield, g);
                            rgb[0] += w * g[0]; rgb[1] += w * g[1]; rgb[2] += w * g[2];
                        }
                    }
                } else {
                    const float uu = std::floor(u), vv = std::floor(v);
                    float val = 0.f;
                    if (uu >= 0 && uu < size && vv >= 0 && vv < size) {
                        const int16_t kk = key[(int64_t)vv * size + (int64_t)uu];
                        if (kk >= 0) val = tab[kk];
                    }
                    if (val > 0.f) { rgb[0] = rgb[1] = rgb[2] = val; }
                    else if (val < 0.f) { rgb[0] = 255.f; }
                    else ground_colour(u * t - ext, v * t - ext, inv_grass, (float)playfield, rgb);
                }
                float* p = o + (i * 96 + j) * 3;
                p[0] = rgb[0]; p[1] = rgb[1]; p[2] = rgb[2];
            }
        }
        // wheels: supersampled in their windows, composited before the hull
        const float steer = s[6];
        for (int wk = 0; wk < 4; ++wk) {
            const int64_t r0 = wheel_windows[4 * wk], r1 = wheel_windows[4 * wk + 1];
            const int64_t c0 = wheel_windows[4 * wk + 2], c1 = wheel_windows[4 * wk + 3];
            const float a = wk < 2 ? steer : 0.f, ca = std::cos(a), sa = std::sin(a);
            const float ph = s[12 + wk];
            const float s1 = std::sin(ph), s2 = std::sin(ph + 1.2f);
            float c1_ = std::cos(ph), c2_ = std::cos(ph + 1.2f);
            if (s1 > 0) c1_ = (c1_ > 0) - (c1_ < 0);
            if (s2 > 0) c2_ = (c2_ > 0) - (c2_ < 0);
            const bool drawn = !(s1 > 0 && s2 > 0);
            const float lo = std::min(c1_, c2_) * hl, hi = std::max(c1_, c2_) * hl;
            for (int64_t i = r0; i < r1; ++i) for (int64_t j = c0; j < c1; ++j) {
                int on = 0, white = 0;
                for (int64_t si = 0; si < sub; ++si) for (int64_t sj = 0; sj < sub; ++sj) {
                    const float px = (j + (sj + 0.5f) / sub) * W / 96.f - W / 2.f;
                    const float py = H - (i + (si + 0.5f) / sub) * H / 96.f - H / 4.f;
                    const float dx = px / zoom_b - wheel_x[wk], dy = py / zoom_b - wheel_y[wk];
                    const float qx = ca * dx + sa * dy, qy = -sa * dx + ca * dy;
                    if (std::fabs(qx) <= hw && std::fabs(qy) <= hl) {
                        ++on;
                        if (drawn && qy >= lo && qy <= hi) ++white;
                    }
                }
                if (on) {
                    const float cov = (float)on / (sub * sub), st = (float)white / (sub * sub);
                    float* p = o + (i * 96 + j) * 3;
                    for (int ch = 0; ch < 3; ++ch) p[ch] = p[ch] * (1.f - cov) + 77.f * st;
                }
            }
        }
        // hull
        const int64_t level = std::min<int64_t>((int64_t)ST[b], 49);
        const float* hb = HU + level * HY * HX;
        for (int64_t i = 0; i < HY; ++i) for (int64_t j = 0; j < HX; ++j) {
            const float hcov = hb[i * HX + j];
            if (hcov > 0.f) {
                float* p = o + ((car_r0 + i) * 96 + car_c0 + j) * 3;
                p[0] = p[0] * (1.f - hcov) + 204.f * hcov; p[1] *= (1.f - hcov); p[2] *= (1.f - hcov);
            }
        }
        // indicator bar (rows 84-95 black) with the exact area coverage of each rectangle
        const float sx = W / 40.f, sy = H / 40.f, px_w = W / 96.f, px_h = H / 96.f;
        auto rect = [&](float x0, float x1, float y0, float y1, float r, float g, float bl, float value) {
            if (!(std::fabs(value) > 1e-4f)) return;
            const float xl = std::min(x0, x1), xh = std::max(x0, x1), yl = std::min(y0, y1), yh = std::max(y0, y1);
            for (int64_t i = 84; i < 96; ++i) {
                const float cy = std::max(0.f, std::min((i + 1) * px_h, yh) - std::max(i * px_h, yl));
                if (cy <= 0.f) continue;
                for (int64_t j = 0; j < 96; ++j) {
                    const float cx = std::max(0.f, std::min((j + 1) * px_w, xh) - std::max(j * px_w, xl));
                    if (cx <= 0.f) continue;
                    const float cov = cx * cy / (px_w * px_h);
                    float* p = o + (i * 96 + j) * 3;
                    p[0] = p[0] * (1 - cov) + cov * r; p[1] = p[1] * (1 - cov) + cov * g; p[2] = p[2] * (1 - cov) + cov * bl;
                }
            }
        };
        auto vertical = [&](float place, float val, float r, float g, float bl, float value) {
            rect(place * sx, (place + 1) * sx, H - (sy + sy * val), H - sy, r, g, bl, value);
        };
        auto horizontal = [&](float place, float val, float r, float g, float bl, float value) {
            rect(place * sx, (place + val) * sx, H - 4 * sy, H - 2 * sy, r, g, bl, value);
        };
        vertical(5, 0.02f * SP[b], 255, 255, 255, SP[b]);
        vertical(7, 0.01f * s[8], 0, 0, 255, s[8]);
        vertical(8, 0.01f * s[9], 0, 0, 255, s[9]);
        vertical(9, 0.01f * s[10], 51, 0, 255, s[10]);
        vertical(10, 0.01f * s[11], 51, 0, 255, s[11]);
        horizontal(20, -10.f * s[6], 0, 255, 0, s[6]);
        horizontal(30, -0.8f * s[5], 255, 0, 0, s[5]);
        for (int64_t q = 0; q < 96 * 96 * 3; ++q) o[q] = std::nearbyint(o[q]);
    }
    return out;
}
"""


@functools.lru_cache(maxsize=None)
def kernel():
    """The compiled ``render`` function, or None (with a warning) where the extension cannot be built."""
    try:
        from torch.utils.cpp_extension import load_inline

        module = load_inline(
            name="metarl_carracing_render",
            cpp_sources=SOURCE,
            functions=["render"],
            extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
        return module.render
    except Exception as error:  # noqa: BLE001  (no compiler, no headers: the torch drawing still works)
        warnings.warn(f"CarRacing: the C++ frame kernel could not be built ({type(error).__name__}: {error}); "
                      "frames are drawn with torch ops instead (slower)", stacklevel=2)
        return None
