import CGIF
import Foundation

/// Writes animated greyscale GIFs through giflib, whose calls report failure by return codes and an error
/// code (never longjmp), so every failure becomes a one-line `MediaError`.
public enum GIF {
    /// Writes `frames` (all the same size) as a GIF89a animation with a 256-level grey palette,
    /// showing each frame for `delayCentiseconds`; `loop` repeats it forever (NETSCAPE2.0 block).
    /// Values are clamped to [0, 1] and rounded to k/255, as `PNG.write` does.
    public static func write(frames: [GreyImage], delayCentiseconds: Int, loop: Bool = true, to url: URL) throws {
        precondition((0...0xFFFF).contains(delayCentiseconds),
                     "GIF.write: a delay of \(delayCentiseconds) centiseconds does not fit GIF's 16 bits")
        guard let first = frames.first else { throw MediaError(url, "cannot write a GIF with no frames") }
        let (width, height) = (first.width, first.height)
        precondition(frames.allSatisfy { $0.width == width && $0.height == height },
                     "GIF.write: all frames must be \(width)x\(height)")
        guard (1...0xFFFF).contains(width), (1...0xFFFF).contains(height) else {
            throw MediaError(url, "cannot write a \(width)x\(height) GIF")
        }
        let sink = ByteSink()
        try withExtendedLifetime(sink) {
            var openError: Int32 = 0
            guard let gif = EGifOpen(Unmanaged.passUnretained(sink).toOpaque(), { file, data, count in
                let sink = Unmanaged<ByteSink>.fromOpaque(file!.pointee.UserData).takeUnretainedValue()
                sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(count)))
                return count
            }, &openError) else {
                throw MediaError(url, "cannot encode GIF: \(describe(openError))")
            }
            let encoded = emit(frames, width: width, height: height, delay: delayCentiseconds, loop: loop, into: gif)
            // The file record is freed by closing, so its error must be read first.
            let encodeError = gif.pointee.Error
            var closeError: Int32 = 0
            let closed = EGifCloseFile(gif, &closeError)
            guard encoded else { throw MediaError(url, "cannot encode GIF: \(describe(encodeError))") }
            guard closed == GIF_OK else { throw MediaError(url, "cannot encode GIF: \(describe(closeError))") }
        }
        try writeMediaFile(sink.bytes, to: url)
    }

    /// The delay that plays `framesPerSecond`, in GIF's centiseconds. Browsers show delays below
    /// 2 centiseconds as 10, so faster rates are capped at 50 frames per second.
    public static func delayCentiseconds(framesPerSecond: Double) -> Int {
        precondition(framesPerSecond > 0, "GIF.delayCentiseconds: frames per second must be positive")
        return min(0xFFFF, max(2, Int((100 / framesPerSecond).rounded())))
    }

    private static func emit(_ frames: [GreyImage], width: Int, height: Int, delay: Int, loop: Bool,
                             into gif: UnsafeMutablePointer<GifFileType>) -> Bool {
        // Graphic control and application extensions need GIF89a; giflib defaults to GIF87a.
        EGifSetGifVersion(gif, true)
        var greys = (0...255).map { GifColorType(Red: UInt8($0), Green: UInt8($0), Blue: UInt8($0)) }
        let described = greys.withUnsafeMutableBufferPointer { colours in
            // giflib copies the map, so it may live on the stack.
            var palette = ColorMapObject(ColorCount: 256, BitsPerPixel: 8, SortFlag: false, Colors: colours.baseAddress)
            return EGifPutScreenDesc(gif, Int32(width), Int32(height), 8, 0, &palette) == GIF_OK
        }
        guard described else { return false }
        if loop {
            // Two sub-blocks (identifier, then loop count 0 = forever), which EGifPutExtension cannot write.
            let identifier = Array("NETSCAPE2.0".utf8)
            let repetitions: [UInt8] = [1, 0, 0]
            guard EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK,
                  EGifPutExtensionBlock(gif, Int32(identifier.count), identifier) == GIF_OK,
                  EGifPutExtensionBlock(gif, Int32(repetitions.count), repetitions) == GIF_OK,
                  EGifPutExtensionTrailer(gif) == GIF_OK
            else { return false }
        }
        var control = GraphicsControlBlock(DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false,
                                           DelayTime: Int32(delay), TransparentColor: NO_TRANSPARENT_COLOR)
        var controlBytes = [UInt8](repeating: 0, count: 4)
        let controlLength = EGifGCBToExtension(&control, &controlBytes)
        for frame in frames {
            guard EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, Int32(controlLength), controlBytes) == GIF_OK,
                  EGifPutImageDesc(gif, 0, 0, Int32(width), Int32(height), false, nil) == GIF_OK
            else { return false }
            // EGifPutLine masks the line in place, so it gets a mutable copy.
            var indices = frame.pixels.map { value -> UInt8 in
                value.isNaN ? 0 : UInt8((min(max(value, 0), 1) * 255).rounded())
            }
            let wroteRows = indices.withUnsafeMutableBufferPointer { buffer in
                (0..<height).allSatisfy {
                    EGifPutLine(gif, buffer.baseAddress! + $0 * width, Int32(width)) == GIF_OK
                }
            }
            guard wroteRows else { return false }
        }
        return true
    }

    private static func describe(_ code: Int32) -> String {
        GifErrorString(code).map { String(cString: $0) } ?? "giflib error \(code)"
    }
}

/// Collects what giflib's encoder writes.
private final class ByteSink {
    var bytes: [UInt8] = []
}

