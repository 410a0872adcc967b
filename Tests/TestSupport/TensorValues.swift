import Checkpoint

extension SafeTensorsFile {
    /// Every value of tensor `name`, whatever its shape, read as the product reads tensors.
    public func values(of name: String) throws -> [Float] {
        guard let shape = shape(of: name) else { throw CheckpointError(url, "has no tensor \(name)") }
        var values = [Float](repeating: 0, count: shape.reduce(1, *))
        try values.withUnsafeMutableBufferPointer { try copy(name, expectedShape: shape, into: $0) }
        return values
    }
}
