import Foundation

/// Netpbm greyscale: binary (P5) and plain ASCII (P2), any maxval up to 65535.
public enum PGM {
    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == UInt8(ascii: "P") && (bytes[1] == UInt8(ascii: "2") || bytes[1] == UInt8(ascii: "5"))
    }

    static func decode(_ bytes: [UInt8], from url: URL) throws -> GreyImage {
        func damaged(_ problem: String) -> MediaError { MediaError(url, "damaged PGM: \(problem)") }
        var reader = Reader(bytes: bytes, position: 2)
        guard let width = reader.number(), let height = reader.number(), let maxval = reader.number() else {
            throw damaged("unreadable header")
        }
        guard width > 0, height > 0 else { throw damaged("size \(width)x\(height)") }
        guard width * height <= Image.maximumPixels else { throw MediaError(url, "image too large (\(width)x\(height))") }
        guard (1...65535).contains(maxval) else { throw damaged("maxval \(maxval) is not in 1...65535") }
        let count = width * height
        var samples: [Int]
        if bytes[1] == UInt8(ascii: "5") {
            // Exactly one whitespace byte separates the header from the raster.
            let start = reader.position + 1
            let sampleSize = maxval < 256 ? 1 : 2
            guard bytes.count >= start + sampleSize * count else { throw damaged("truncated pixel data") }
            samples = sampleSize == 1
                ? bytes[start..<(start + count)].map { Int($0) }
                : (0..<count).map { Int(bytes[start + 2 * $0]) << 8 | Int(bytes[start + 2 * $0 + 1]) }
        } else {
            samples = []
            samples.reserveCapacity(count)
            while samples.count < count {
                guard let sample = reader.number() else { throw damaged("truncated or unreadable pixel data") }
                samples.append(sample)
            }
        }
        guard samples.allSatisfy({ $0 <= maxval }) else { throw damaged("a sample exceeds maxval \(maxval)") }
        return GreyImage(width: width, height: height, pixels: samples.map { Float($0) / Float(maxval) })
    }

    /// Reads the decimal numbers of a header or plain raster, skipping whitespace and `#` comments.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int

        mutating func number() -> Int? {
            while position < bytes.count {
                if bytes[position] == UInt8(ascii: "#") {
                    while position < bytes.count && bytes[position] != UInt8(ascii: "\n") && bytes[position] != UInt8(ascii: "\r") {
                        position += 1
                    }
                } else if [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains(bytes[position]) {
                    position += 1
                } else {
                    break
                }
            }
            var value = 0
            let start = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                guard value <= Int(Int32.max) else { return nil }
                position += 1
            }
            return position > start ? value : nil
        }
    }
}
