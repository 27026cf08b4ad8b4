#!/usr/bin/env python3
"""What this core sustains for a dot product's and an L2 distance's loads
and arithmetic: the ceilings the `pair` kernels are measured against in
docs/BENCHMARKS.md.

    python3 benches/ceiling/load_fma.py        # needs gcc and AVX-512F

It writes a C program with hand-written, fully unrolled AVX-512 assembly:
for each dim, the 2*dim/16 zmm loads and dim/16 FMAs of one dot product
(`ip`), or the same loads with a subtract and an FMA per vector (`l2`:
both 512-bit FMA ports are then as busy as both load ports), repeated
back to back with no call and no argument check, with four and with eight
accumulators, and with and without the horizontal reduction a kernel must
end with. It times each with CLOCK_MONOTONIC and turns the
time into cycles with the clock measured the way the kernel bench does it,
right after each variant (the clock of these VMs drifts): a chain of
dependent register-register adds (one cycle each). It prints,
per variant, cycles per pair and the fraction of the load-port bound
(dim/16 cycles: two 64-byte loads a cycle). First it prints how many
independent zmm FMAs (eight chains, registers only) the core retires a
cycle: how many 512-bit FMA ports it has.

The vectors are 64-byte aligned and L1-resident (the same two vectors
every time). No distance kernel does less work than these loops, so their
fraction of the port bound is the most a kernel can reach on this core.
"""
import os
import subprocess
import sys
import tempfile

DIMS = [384, 768, 1024, 1536]
REPS = 1_000_000


def body(metric, dim, acc, reduce):
    lines = []
    for i in range(dim // 16):
        a = 11 + (i % acc)
        r = 3 + (i % 8)
        lines.append(f"vmovups {i * 64}(%0), %%zmm{r}")
        if metric == "ip":
            lines.append(f"vfmadd231ps {i * 64}(%1), %%zmm{r}, %%zmm{a}")
        else:
            lines.append(f"vsubps {i * 64}(%1), %%zmm{r}, %%zmm{r}")
            lines.append(f"vfmadd231ps %%zmm{r}, %%zmm{r}, %%zmm{a}")
    if reduce:
        accs = list(range(11, 11 + acc))
        while len(accs) > 1:
            nxt = []
            for j in range(0, len(accs), 2):
                lines.append(f"vaddps %%zmm{accs[j + 1]}, %%zmm{accs[j]}, %%zmm{accs[j]}")
                nxt.append(accs[j])
            accs = nxt
        s = accs[0]
        lines += [
            f"vextractf64x4 $1, %%zmm{s}, %%ymm1",
            f"vaddps %%ymm1, %%ymm{s}, %%ymm0",
            "vextractf128 $1, %%ymm0, %%xmm1",
            "vaddps %%xmm1, %%xmm0, %%xmm0",
            "vshufpd $1, %%xmm0, %%xmm0, %%xmm1",
            "vaddps %%xmm1, %%xmm0, %%xmm0",
            "vmovshdup %%xmm0, %%xmm1",
            "vaddss %%xmm1, %%xmm0, %%xmm0",
            "vmovss %%xmm0, (%2)",
        ]
        # The next pair starts from zero, as a kernel call does.
        lines += [f"vxorps %%xmm{k}, %%xmm{k}, %%xmm{k}" for k in range(11, 11 + acc)]
    return "\\n\\t".join(lines)


def fma_chains():
    """Eight independent accumulator chains of zmm FMAs on registers."""
    return "\\n\\t".join(
        f"vfmadd231ps %%zmm1, %%zmm2, %%zmm{r}" for r in range(3, 11)
    )


def program():
    clobbers = ", ".join(f'"xmm{i}"' for i in range(0, 20))
    out = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "#include <time.h>",
        "static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }",
        "static double ghz(void) {",
        "  long n = 20000000, x = 0; double t0 = now();",
        '  for (long i = 0; i < n; i++) __asm__ volatile("add %1, %0\\n\\tadd %1, %0\\n\\tadd %1, %0\\n\\tadd %1, %0" : "+r"(x) : "r"(i));',
        "  return 4.0 * n / (now() - t0) / 1e9;",
        "}",
        "#define ROUNDS 5",
        "static int cmp(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return (a > b) - (a < b); }",
        "int main(void) {",
        "  double cyc[ROUNDS], clocks[ROUNDS];",
        "  float *a = aligned_alloc(64, 8192), *b = aligned_alloc(64, 8192), res[16];",
        "  for (int i = 0; i < 2048; i++) { a[i] = 1.0f; b[i] = 0.5f; }",
        "  double clock = ghz(), t0, t;",
        '  printf("clock %.2f GHz (dependent adds)\\n", clock);',
        f"  t0 = now(); for (long i = 0; i < {REPS * 10}; i++) __asm__ volatile(\"{fma_chains()}\" ::: \"xmm3\", \"xmm4\", \"xmm5\", \"xmm6\", \"xmm7\", \"xmm8\", \"xmm9\", \"xmm10\"); t = now() - t0;",
        f'  printf("independent zmm FMAs: %.2f a cycle\\n", 8.0 * {REPS * 10} / (t * 1e9 * clock));',
        '  printf("%-7s %-6s %-4s %-7s %14s %18s %9s\\n", "metric", "dim", "acc", "reduce", "cycles/pair", "of port bound", "GHz");',
    ]
    for metric, dim, acc, reduce in (
        (m, d, a, r) for m in ("ip", "l2") for d in DIMS for a in (4, 8) for r in (0, 1)
    ):
        # Five rounds, each between two clock readings: this VM's
        # clock drifts by up to 20% within a run and wobbles within
        # a second, so one reading taken at the start gave fractions
        # above 100%. The median round is printed.
        out.append(
            f'  for (int r = 0; r < ROUNDS; r++) {{ double g0 = ghz(); t0 = now(); for (long i = 0; i < {REPS}; i++) __asm__ volatile("{body(metric, dim, acc, reduce)}" :: "r"(a), "r"(b), "r"(res) : {clobbers}, "memory"); t = now() - t0; clock = (g0 + ghz()) / 2; cyc[r] = t * 1e9 * clock / {REPS}; clocks[r] = clock; }}'
        )
        out.append("  qsort(cyc, ROUNDS, sizeof(double), cmp); qsort(clocks, ROUNDS, sizeof(double), cmp);")
        out.append(
            f'  printf("%-7s %-6d %-4d %-7s %14.1f %17.0f%% %9.2f\\n", "{metric}", {dim}, {acc}, "{"yes" if reduce else "no"}", cyc[ROUNDS / 2], 100.0 * {dim // 16} / cyc[ROUNDS / 2], clocks[ROUNDS / 2]);'
        )
    out += ["  return 0;", "}"]
    return "\n".join(out)


def main():
    flags = open("/proc/cpuinfo").read()
    if " avx512f" not in flags:
        sys.exit("this CPU has no AVX-512F: the ceiling loops are written for zmm registers")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "load_fma.c")
        exe = os.path.join(tmp, "load_fma")
        with open(src, "w") as f:
            f.write(program())
        subprocess.run(["gcc", "-O2", "-mavx512f", src, "-o", exe], check=True)
        subprocess.run([exe], check=True)


if __name__ == "__main__":
    main()
