import Foundation

/// A greyscale picture: `pixels` is row-major, 0 is black and 1 is white.
public struct GreyImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public let pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "GreyImage: \(pixels.count) pixels do not make a \(width)x\(height) image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The `side` x `side` images laid one after another in `pixels` (the first `count`, or all).
    public static func squares(_ pixels: [Float], side: Int, count: Int? = nil) -> [GreyImage] {
        let size = side * side, count = count ?? pixels.count / size
        precondition(count * size <= pixels.count, "GreyImage.squares: \(pixels.count) pixels do not hold \(count) of \(side)x\(side)")
        return (0..<count).map { GreyImage(width: side, height: side, pixels: Array(pixels[($0 * size)..<(($0 + 1) * size)])) }
    }

    /// The image with black and white swapped.
    public var inverted: GreyImage { GreyImage(width: width, height: height, pixels: pixels.map { 1 - $0 }) }

    /// Each pixel becomes a `factor` x `factor` block, so small digits stay crisp when viewed.
    public func enlarged(by factor: Int) -> GreyImage {
        precondition(factor >= 1, "GreyImage.enlarged: factor must be at least 1, got \(factor)")
        let bigWidth = width * factor
        var big = [Float](repeating: 0, count: bigWidth * height * factor)
        for y in 0..<(height * factor) {
            for x in 0..<bigWidth {
                big[y * bigWidth + x] = pixels[(y / factor) * width + x / factor]
            }
        }
        return GreyImage(width: bigWidth, height: height * factor, pixels: big)
    }

    /// Lays `images` out left to right, top to bottom, with `padding` pixels of `background`
    /// between them and around the edge. Uses fewer columns when there are fewer images.
    public static func grid(_ images: [GreyImage], columns: Int, padding: Int, background: Float) -> GreyImage {
        precondition(!images.isEmpty, "GreyImage.grid: no images")
        precondition(columns >= 1 && padding >= 0, "GreyImage.grid: needs columns >= 1 and padding >= 0")
        let (cellWidth, cellHeight) = (images[0].width, images[0].height)
        precondition(images.allSatisfy { $0.width == cellWidth && $0.height == cellHeight },
                     "GreyImage.grid: all images must be \(cellWidth)x\(cellHeight)")
        let columns = min(columns, images.count)
        let rows = (images.count + columns - 1) / columns
        let width = columns * cellWidth + (columns + 1) * padding
        let height = rows * cellHeight + (rows + 1) * padding
        var pixels = [Float](repeating: background, count: width * height)
        for (index, image) in images.enumerated() {
            let left = padding + (index % columns) * (cellWidth + padding)
            let top = padding + (index / columns) * (cellHeight + padding)
            for y in 0..<cellHeight {
                let row = (top + y) * width + left
                pixels[row..<(row + cellWidth)] = image.pixels[(y * cellWidth)..<((y + 1) * cellWidth)]
            }
        }
        return GreyImage(width: width, height: height, pixels: pixels)
    }
}

/// Reads a user's image file, whatever its kind, as grey.
public enum Image {
    /// Picks the decoder from the file's first bytes rather than its name.
    public static func read(_ url: URL) throws -> GreyImage {
        let bytes = try readMediaFile(url)
        if bytes.isEmpty { throw MediaError(url, "empty file") }
        if bytes.starts(with: PNG.signature) { return try PNG.decode(bytes, from: url) }
        if PGM.hasMagic(bytes) { return try PGM.decode(bytes, from: url) }
        throw MediaError(url, "not a PNG or PGM image")
    }

    /// Decoders refuse images beyond this many pixels rather than trying to allocate them.
    static let maximumPixels = 1 << 26
}
