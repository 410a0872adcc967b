/// How often the digit reader reads the right digit in a set of images, and what it misreads most.
public struct Readings: Codable, Equatable, Sendable {
    /// The share of images read as their label.
    public var readRight: Double
    /// The most frequent (digit, read as) pairs among the misread images, most frequent first.
    public var mostMisread: [Misreading]

    enum CodingKeys: String, CodingKey {
        case readRight = "read_right", mostMisread = "most_misread"
    }
}

/// Images of one digit that the reader took for another.
public struct Misreading: Codable, Equatable, Sendable {
    public let digit: Int, readAs: Int, images: Int

    enum CodingKeys: String, CodingKey {
        case digit, readAs = "read_as", images
    }
}

/// A confusion matrix filled a part at a time.
struct ReadingTally {
    /// Misreadings reported, at most.
    static let reported = 3
    private var counts = [Int](repeating: 0, count: 100)
    private var images = 0

    mutating func add(read: [UInt8], labels: ArraySlice<UInt8>) {
        precondition(read.count == labels.count)
        for (digit, label) in zip(read, labels) { counts[Int(label) * 10 + Int(digit)] += 1 }
        images += read.count
    }

    var readings: Readings {
        let right = (0..<10).reduce(0) { $0 + counts[$1 * 11] }
        let misread = (0..<100).filter { $0 / 10 != $0 % 10 && counts[$0] > 0 }
            .sorted { (counts[$1], $0) < (counts[$0], $1) }
            .prefix(Self.reported)
            .map { Misreading(digit: $0 / 10, readAs: $0 % 10, images: counts[$0]) }
        return Readings(readRight: Double(right) / Double(images), mostMisread: Array(misread))
    }
}
