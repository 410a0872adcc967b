/// The numbers the decoder's transposed convolutions, which carry most of a training step's
/// work, multiply in: `fp32` is the seed's (Keras's) float32; `bf16` rounds their inputs to
/// bfloat16 and sums the products in float32, as the CPU's `vdpbf16ps` does. Weights, their
/// gradients, Adam, the losses and the all-reduce stay float32 in both.
public enum Precision: String, CaseIterable, Sendable {
    case fp32, bf16

    /// Whether the kernel build in use on this thread computes in this precision.
    public var isAvailable: Bool { KernelBuild.inUse.runs(self) }
}
