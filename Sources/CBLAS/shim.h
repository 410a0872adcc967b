#include <cblas.h>
// OpenBLAS's thread control: one BLAS thread per rank keeps sums deterministic.
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);
