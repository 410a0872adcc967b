import Model

extension ParameterLayout {
    /// Keras's initial values as a pure function of the seed: Glorot-uniform kernels with
    /// `limit = sqrt(6 / (fan_in + fan_out))`, zero biases (Keras's defaults).
    public func initialParameters(seed: UInt64) -> [Float] {
        let random = Philox(seed: seed)
        var parameters = [Float](repeating: 0, count: count)
        for (tensor, spec) in specs.enumerated() where spec.isKernel {
            // Convolutions: fans are kh*kw*(in+out); dense: in+out. Either way, the product of
            // the leading dimensions times the sum of the last two.
            let shape = spec.shape
            let receptive = shape.dropLast(2).reduce(1, *)
            let fans = receptive * (shape[shape.count - 2] + shape[shape.count - 1])
            let limit = (6 / Double(fans)).squareRoot()
            for i in 0..<spec.count {
                let u = random.uniform(.initialWeights, item: UInt32(tensor), index: UInt64(i))
                parameters[spec.offset + i] = Float((2 * u - 1) * limit)
            }
        }
        return parameters
    }
}
