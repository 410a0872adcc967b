#include "mpi_shim.h"
#include <limits.h>
#include <mpi.h>
#include <string.h>

int vae_mpi_init(void) {
    int error = MPI_Init(NULL, NULL);
    if (error != MPI_SUCCESS) return error;
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

int vae_mpi_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }

int vae_mpi_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

// MPI counts are int: large buffers go in chunks.
int vae_mpi_allreduce_int64(int64_t *buffer, size_t count, vae_mpi_op op) {
    MPI_Op mpi_op = op == vae_mpi_max ? MPI_MAX : MPI_SUM;
    while (count > 0) {
        int chunk = count > INT_MAX ? INT_MAX : (int)count;
        int error = MPI_Allreduce(MPI_IN_PLACE, buffer, chunk, MPI_INT64_T, mpi_op, MPI_COMM_WORLD);
        if (error != MPI_SUCCESS) return error;
        buffer += chunk;
        count -= (size_t)chunk;
    }
    return MPI_SUCCESS;
}

int vae_mpi_broadcast(void *buffer, size_t bytes, int root) {
    char *bytes_left = buffer;
    while (bytes > 0) {
        int chunk = bytes > INT_MAX ? INT_MAX : (int)bytes;
        int error = MPI_Bcast(bytes_left, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
        if (error != MPI_SUCCESS) return error;
        bytes_left += chunk;
        bytes -= (size_t)chunk;
    }
    return MPI_SUCCESS;
}

int vae_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int vae_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

int vae_mpi_finalize(void) { return MPI_Finalize(); }

void vae_mpi_error_string(int code, char *buffer, size_t capacity) {
    if (capacity == 0) return;
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) {
        strncpy(buffer, "unknown MPI error", capacity - 1);
    } else {
        size_t n = (size_t)length < capacity - 1 ? (size_t)length : capacity - 1;
        memcpy(buffer, message, n);
        buffer[n] = '\0';
        return;
    }
    buffer[capacity - 1] = '\0';
}
