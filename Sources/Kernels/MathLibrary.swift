import CKernels

/// The C library whose log, sin and cos draw the noise (Box-Muller): its rounding is part of the
/// bits as much as the kernels' is. (The loss's exp and log1p are the project's own: logistic.c.)
public enum MathLibrary {
    /// Whether its fused multiply-add variants run on this CPU.
    public static var fusesMultiplyAdd: Bool { vae_math_library_fuses_multiply_add() }
    /// "glibc 2.36".
    public static var version: String { "glibc \(String(cString: vae_math_library_version()))" }

    /// Has the C library map big blocks and return them when freed (glibc otherwise keeps the
    /// freed ones of each thread's heap: the resident peak of a run's scoring threads doubled).
    public static func returnBigBlocks() { vae_c_library_return_big_blocks() }
}
