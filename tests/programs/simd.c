/* SSE, AVX2 and AVX-512 arithmetic where the CPU offers it (the same sums
 * come out either way), and vector registers preserved across syscalls. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

#define N 4096
static int32_t a[N], b[N];

static int64_t dot_scalar(void)
{
    int64_t s = 0;
    for (int i = 0; i < N; i++)
        s += (int64_t)a[i] * b[i];
    return s;
}

__attribute__((target("avx2"))) static int64_t dot_avx2(void)
{
    __m256i acc = _mm256_setzero_si256();
    for (int i = 0; i < N; i += 4) {
        __m256i x = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)&a[i]));
        __m256i y = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)&b[i]));
        acc = _mm256_add_epi64(acc, _mm256_mul_epi32(x, y));
    }
    int64_t out[4];
    _mm256_storeu_si256((__m256i *)out, acc);
    return out[0] + out[1] + out[2] + out[3];
}

__attribute__((target("avx512f"))) static int64_t dot_avx512(void)
{
    __m512i acc = _mm512_setzero_si512();
    for (int i = 0; i < N; i += 8) {
        __m512i x = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)&a[i]));
        __m512i y = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)&b[i]));
        acc = _mm512_add_epi64(acc, _mm512_mul_epi32(x, y));
    }
    return _mm512_reduce_add_epi64(acc);
}

/* xmm0-15 hold a pattern across a raw syscall, compared afterwards. */
static int xmm_survive_syscall(void)
{
    uint64_t in[32], out[32];
    for (int i = 0; i < 32; i++)
        in[i] = 0x0101010101010101ull * (i + 1);
    __asm__ volatile(
        "movdqu 0(%[in]), %%xmm0\n movdqu 16(%[in]), %%xmm1\n"
        "movdqu 32(%[in]), %%xmm2\n movdqu 48(%[in]), %%xmm3\n"
        "movdqu 64(%[in]), %%xmm4\n movdqu 80(%[in]), %%xmm5\n"
        "movdqu 96(%[in]), %%xmm6\n movdqu 112(%[in]), %%xmm7\n"
        "movdqu 128(%[in]), %%xmm8\n movdqu 144(%[in]), %%xmm9\n"
        "movdqu 160(%[in]), %%xmm10\n movdqu 176(%[in]), %%xmm11\n"
        "movdqu 192(%[in]), %%xmm12\n movdqu 208(%[in]), %%xmm13\n"
        "movdqu 224(%[in]), %%xmm14\n movdqu 240(%[in]), %%xmm15\n"
        "mov $39, %%eax\n syscall\n"
        "movdqu %%xmm0, 0(%[out])\n movdqu %%xmm1, 16(%[out])\n"
        "movdqu %%xmm2, 32(%[out])\n movdqu %%xmm3, 48(%[out])\n"
        "movdqu %%xmm4, 64(%[out])\n movdqu %%xmm5, 80(%[out])\n"
        "movdqu %%xmm6, 96(%[out])\n movdqu %%xmm7, 112(%[out])\n"
        "movdqu %%xmm8, 128(%[out])\n movdqu %%xmm9, 144(%[out])\n"
        "movdqu %%xmm10, 160(%[out])\n movdqu %%xmm11, 176(%[out])\n"
        "movdqu %%xmm12, 192(%[out])\n movdqu %%xmm13, 208(%[out])\n"
        "movdqu %%xmm14, 224(%[out])\n movdqu %%xmm15, 240(%[out])\n"
        :
        : [in] "r"(in), [out] "r"(out)
        : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
          "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
          "xmm15");
    for (int i = 0; i < 32; i++)
        if (in[i] != out[i])
            return 0;
    return 1;
}

/* The upper halves of ymm registers and a zmm register across syscalls. */
__attribute__((target("avx2"))) static int ymm_survive_syscall(void)
{
    uint64_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    __asm__ volatile(
        "vmovdqu 0(%[in]), %%ymm3\n vmovdqu 32(%[in]), %%ymm12\n"
        "mov $39, %%eax\n syscall\n mov $39, %%eax\n syscall\n"
        "vmovdqu %%ymm3, 0(%[out])\n vmovdqu %%ymm12, 32(%[out])\n"
        :
        : [in] "r"(in), [out] "r"(out)
        : "rax", "rcx", "r11", "memory", "xmm3", "xmm12");
    for (int i = 0; i < 8; i++)
        if (in[i] != out[i])
            return 0;
    return 1;
}

__attribute__((target("avx512f"))) static int zmm_survive_syscall(void)
{
    uint64_t in[16], out[16];
    for (int i = 0; i < 16; i++)
        in[i] = 0x1111111111111111ull * (i + 1);
    __asm__ volatile(
        "vmovdqu64 0(%[in]), %%zmm5\n vmovdqu64 64(%[in]), %%zmm27\n"
        "mov $0xaa, %%ecx\n kmovw %%ecx, %%k3\n"
        "mov $39, %%eax\n syscall\n"
        "vmovdqu64 %%zmm5, 0(%[out])\n vmovdqu64 %%zmm27, 64(%[out])\n"
        "kmovw %%k3, %%ecx\n mov %%ecx, 0(%[k])\n"
        :
        : [in] "r"(in), [out] "r"(out), [k] "r"(&out[15])
        : "rax", "rcx", "r11", "memory", "xmm5", "xmm27", "k3");
    int ok = out[15] == 0xaa || (uint32_t)out[15] == 0xaa;
    for (int i = 0; i < 15; i++)
        ok &= in[i] == out[i];
    return ok;
}

int main(void)
{
    for (int i = 0; i < N; i++) {
        a[i] = (i * 2654435761u) >> 7;
        b[i] = (int32_t)(i * 40503u) - 1000000;
    }
    int64_t s = dot_scalar();
    __builtin_cpu_init();
    int has_avx2 = __builtin_cpu_supports("avx2");
    int has_avx512 = __builtin_cpu_supports("avx512f");
    printf("scalar dot=%lld\n", (long long)s);
    printf("avx2 agrees=%d\n", has_avx2 ? dot_avx2() == s : 1);
    printf("avx512 agrees=%d\n", has_avx512 ? dot_avx512() == s : 1);
    /* Twice: the second time runs through the same (maybe rewritten) sites. */
    for (int round = 0; round < 2; round++) {
        printf("xmm survive syscall=%d\n", xmm_survive_syscall());
        printf("ymm survive syscall=%d\n", has_avx2 ? ymm_survive_syscall() : 1);
        printf("zmm survive syscall=%d\n", has_avx512 ? zmm_survive_syscall() : 1);
    }
    return 0;
}
