/* The exit status of main reaches the parent. */
int main(void)
{
    return 42;
}
