/// Which half of an MNIST-style data set; the raw value is what users type.
public enum Split: String, CaseIterable, Sendable {
    case train, test

    /// The prefix the IDX file names carry (`t10k` is MNIST's name for the test files).
    public var filePrefix: String {
        switch self {
        case .train: "train"
        case .test: "t10k"
        }
    }
}
