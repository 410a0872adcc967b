import CKernels

/// The C library whose exp and log the model calls (the sampling, the loss): its rounding is
/// part of the bits as much as the kernels' is.
public enum MathLibrary {
    /// Whether its fused multiply-add variants run on this CPU.
    public static var fusesMultiplyAdd: Bool { vae_math_library_fuses_multiply_add() }
    /// "glibc 2.36".
    public static var version: String { "glibc \(String(cString: vae_math_library_version()))" }
}
