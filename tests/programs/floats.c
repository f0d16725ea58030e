/* Floating point through printf and libm: SSE, x87 (long double), and the
 * MXCSR rounding mode. volatile keeps the compiler from folding the math. */
#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    volatile double d[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3.0, 6.02214076e23,
                           -1.602176634e-19, 1e308, 4.9e-324, 123456789.125};
    volatile float f[] = {0.5f, 3.14159265f, -2.5e-8f, 16777217.0f};
    volatile long double ld = 1.0L / 3.0L;
    volatile double x = 2.0, y = 0.7;

    for (unsigned i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        printf("d[%u]: %f %e %g %a %.17g\n", i, d[i], d[i], d[i], d[i], d[i]);
    for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        printf("f[%u]: %f %e %g %a\n", i, f[i], f[i], f[i], f[i]);
    printf("ld: %.20Lf %La\n", ld, ld);
    printf("inf/nan: %f %f %e\n", x / 0.0 * 1.0, -x / 0.0, sqrt(-x));
    printf("sqrt=%.17g sin=%.17g cos=%.17g exp=%.17g log=%.17g pow=%.17g\n",
           sqrt(x), sin(y), cos(y), exp(y), log(x), pow(x, y));
    printf("atan2=%.17g fma=%.17g cbrt=%.17g tgamma=%.17g\n",
           atan2(y, x), fma(x, y, 1.0), cbrt(27.0 * y), tgamma(y + 3));
    printf("sinl=%.20Lg expl=%.20Lg\n", sinl(ld), expl(ld));
    printf("strtod: %.17g %.17g\n", strtod("2.718281828459045", NULL),
           strtod("0x1.8p3", NULL));

    volatile double one = 1.0, three = 3.0;
    fesetround(FE_UPWARD);
    double up = one / three;
    fesetround(FE_DOWNWARD);
    double down = one / three;
    fesetround(FE_TONEAREST);
    printf("rounding: %a %a %d\n", up, down, up > down);
    printf("rint: %g %g %g\n", rint(2.5), rint(3.5), nearbyint(-2.5));
    return 0;
}
