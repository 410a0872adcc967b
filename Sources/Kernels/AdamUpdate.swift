import CKernels

/// Adam's element-wise update in Keras's float32 arithmetic, vectorised (the moments' and the
/// parameters' bits are those of the plain loop, in every build).
public enum AdamUpdate {
    /// Updates `count` parameters and their moments `m` and `v` by the gradients `g`.
    public static func apply(parameters: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>,
                             v: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, count: Int,
                             alpha: Float, oneMinusBeta1: Float, oneMinusBeta2: Float, epsilon: Float) {
        vae_adam_update(parameters, m, v, g, count, alpha, oneMinusBeta1, oneMinusBeta2, epsilon)
    }
}
