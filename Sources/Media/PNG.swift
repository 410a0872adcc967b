import CPNG
import Foundation

/// PNG through libpng's simplified API, which reports errors as return codes and messages; the
/// classic API reports them by longjmp, which Swift cannot survive.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Writes an 8-bit greyscale PNG; values are clamped to [0, 1] and rounded to k/255.
    public static func write(_ image: GreyImage, to url: URL) throws {
        let bytes = image.pixels.map { value -> UInt8 in
            value.isNaN ? 0 : UInt8((min(max(value, 0), 1) * 255).rounded())
        }
        try writeMediaFile(encode(bytes, width: image.width, height: image.height,
                                   format: png_uint_32(PNG_FORMAT_GRAY), for: url), to: url)
    }

    /// libpng expands palettes, low bit depths and interlacing, and scales 16-bit samples to 8.
    /// Colour becomes grey by PIL's `convert("L")` rule (ITU-R 601-2 luma on the stored sRGB values,
    /// rounded) rather than libpng's linear-light conversion, so results match Python tooling.
    /// Alpha is ignored, as PIL's conversion does: a transparent pixel keeps its stored colour.
    /// Unlike PIL, libpng honours a gAMA chunk that differs from sRGB by re-encoding to sRGB.
    static func decode(_ bytes: [UInt8], from url: URL) throws -> GreyImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        let rgba = try bytes.withUnsafeBytes { raw -> [UInt8] in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                throw MediaError(url, "damaged PNG: \(message(of: &image))")
            }
            let pixelCount = Int(image.width) * Int(image.height)
            guard pixelCount <= Image.maximumPixels else {
                png_image_free(&image)
                throw MediaError(url, "image too large (\(image.width)x\(image.height))")
            }
            image.format = png_uint_32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // RGBA
            // Without this flag libpng takes 16-bit samples as linear light and gamma-encodes them.
            image.flags |= png_uint_32(PNG_IMAGE_FLAG_16BIT_sRGB)
            var rgba = [UInt8](repeating: 0, count: 4 * pixelCount)
            let finished = rgba.withUnsafeMutableBytes {
                png_image_finish_read(&image, nil, $0.baseAddress, 0, nil)
            }
            guard finished != 0 else { throw MediaError(url, "damaged PNG: \(message(of: &image))") }
            return rgba
        }
        let pixels = (0..<(rgba.count / 4)).map { i -> Float in
            // PIL's fixed-point weights 0.299, 0.587, 0.114 scaled by 2^16, with rounding.
            let red: UInt32 = 19595 * UInt32(rgba[4 * i])
            let green: UInt32 = 38470 * UInt32(rgba[4 * i + 1])
            let blue: UInt32 = 7471 * UInt32(rgba[4 * i + 2])
            return Float((red + green + blue + 0x8000) >> 16) / 255
        }
        return GreyImage(width: Int(image.width), height: Int(image.height), pixels: pixels)
    }

    private static func encode(_ samples: [UInt8], width: Int, height: Int, format: png_uint_32,
                               for url: URL) throws -> [UInt8] {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw MediaError(url, "cannot write a \(width)x\(height) PNG")
        }
        func attempt(_ memory: UnsafeMutableRawPointer?, _ size: inout Int) throws {
            var image = png_image()
            image.version = png_uint_32(PNG_IMAGE_VERSION)
            image.width = png_uint_32(width)
            image.height = png_uint_32(height)
            image.format = format
            let ok = samples.withUnsafeBytes {
                png_image_write_to_memory(&image, memory, &size, 0, $0.baseAddress, 0, nil)
            }
            guard ok != 0 else { throw MediaError(url, "cannot encode PNG: \(message(of: &image))") }
        }
        // The first call only measures; the second fills a buffer of that size.
        var size = 0
        try attempt(nil, &size)
        var encoded = [UInt8](repeating: 0, count: size)
        try encoded.withUnsafeMutableBytes { try attempt($0.baseAddress, &size) }
        return Array(encoded[0..<size])
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
