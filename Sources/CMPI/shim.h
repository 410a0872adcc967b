// Only carries OpenMPI's compile and link flags (from pkg-config ompi-c) to MPIShim;
// Swift code talks to MPI through MPIShim, never through mpi.h.
#include <mpi.h>
