/* The smallest exec target: a static program that exits 0. */
int main(void) { return 0; }
