/* The ELF mutator's victim: a small static program that prints a line. */
#include <unistd.h>

int main(void)
{
    write(1, "tiny\n", 5);
    return 0;
}
