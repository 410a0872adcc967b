import Crypto
import FileIO
import Foundation
import Model

/// One split of an MNIST-style data set: 28x28 grey images and their labels, in file order.
public struct ImageSet: Sendable {
    /// Side of the stored images, the reconstruction targets: the model's output.
    public static let imageSide = VAE.outputSide
    /// Side of the downscaled images the network gets as input.
    public static let lowResolutionSide = VAE.inputSide

    public let split: Split
    /// Number of images.
    public let count: Int
    public let height: Int, width: Int
    /// `count * height * width` bytes, row-major, as stored (bytes, not floats: a quarter of the memory).
    public let pixels: [UInt8]
    public let labels: [UInt8]
    /// Hex SHA-256 of the decompressed image file followed by the decompressed label file:
    /// names the data set whatever its compression, so checkpoints can tell what they were trained on.
    public let fingerprint: String

    public var pixelsPerImage: Int { height * width }

    /// Loads `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` from `directory`, each
    /// raw or `.gz`. When the directory has a `SHA256SUMS`, every file it lists is checked against it.
    public static func load(_ split: Split, from directory: URL) throws(DatasetError) -> ImageSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError(path: directory.messagePath, problem: "no such directory (expected the MNIST IDX files in it)")
        }
        let checksums = try ChecksumList.load(in: directory)
        func read(_ name: String, as content: IDXContent) throws(DatasetError) -> IDXFile {
            let url = try locate(name, in: directory)
            return try IDXFile.read(url, as: content, expectedSHA256: checksums?.expectedDigest(forFileNamed: url.lastPathComponent))
        }

        let images = try read("\(split.filePrefix)-images-idx3-ubyte", as: .images)
        guard images.shape[1] == imageSide, images.shape[2] == imageSide else {
            throw DatasetError(path: images.path, problem: "images are \(images.shape[1])x\(images.shape[2]), expected \(imageSide)x\(imageSide)")
        }
        let labels = try read("\(split.filePrefix)-labels-idx1-ubyte", as: .labels)
        guard labels.shape[0] == images.shape[0] else {
            throw DatasetError(path: images.path, problem: "holds \(images.shape[0]) images but \(labels.path) holds \(labels.shape[0]) labels; they must match")
        }

        return ImageSet(split: split, pixels: images.payload, labels: labels.payload)
    }

    /// A set made in memory (28x28 images, `labels.count` of them); its fingerprint is the one
    /// the same data would have when loaded from IDX files.
    public init(split: Split, pixels: [UInt8], labels: [UInt8]) {
        let side = Self.imageSide
        precondition(pixels.count == labels.count * side * side,
                     "\(pixels.count) pixels do not make \(labels.count) images of \(side)x\(side)")
        self.split = split
        self.count = labels.count
        self.height = side
        self.width = side
        self.pixels = pixels
        self.labels = labels
        var hasher = SHA256()
        hasher.update(data: IDXFile.header(shape: [labels.count, side, side]))
        hasher.update(data: pixels)
        hasher.update(data: IDXFile.header(shape: [labels.count]))
        hasher.update(data: labels)
        fingerprint = hexString(hasher.finalize())
    }

    /// The raw file if present, else the `.gz` one.
    private static func locate(_ name: String, in directory: URL) throws(DatasetError) -> URL {
        for candidate in [name, name + ".gz"] {
            let url = directory.appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw DatasetError(path: directory.messagePath, problem: "no \(name) or \(name).gz here")
    }

    /// Image `index` as `height * width` floats in [0, 1]: the reconstruction target.
    public func target(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < count, "image index \(index) out of 0..<\(count)")
        pixels.withUnsafeBufferPointer { all in
            let image = all.baseAddress! + index * pixelsPerImage
            for offset in 0..<pixelsPerImage {
                out[offset] = Float(image[offset]) / 255
            }
        }
    }

    /// Image `index` downscaled to 8x8 (64 floats) as Keras `smart_resize(image / 255, (8, 8))`
    /// does it: the network's input. The images are square, so the crop keeps all of them.
    public func lowResolution(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < count, "image index \(index) out of 0..<\(count)")
        pixels.withUnsafeBufferPointer { all in
            let image = all.baseAddress! + index * pixelsPerImage
            // Divide (not multiply by 1/255) so each value equals uint8 / 255 in float32 exactly.
            Resize.interpolate(height: height, width: width, rowStride: width, into: out,
                               outHeight: Self.lowResolutionSide, outWidth: Self.lowResolutionSide) {
                Float(image[$0]) / 255
            }
        }
    }

    /// Image `index` downscaled, as its own array.
    public func lowResolution(_ index: Int) -> [Float] {
        var pixels = [Float](repeating: 0, count: Self.lowResolutionSide * Self.lowResolutionSide)
        lowResolution(index, into: &pixels)
        return pixels
    }
}
