import CGIF
import Foundation
import Media

extension GIF {
    /// Reads what `GIF.write` makes, every frame as grey (colours by PIL's `convert("L")` luma,
    /// as `Image.read` uses for PNG) with its delay, so tests can check the writer's frames.
    /// Frames not covering the whole screen, or with transparent pixels, are refused rather
    /// than composited: the writer never makes them.
    public static func read(_ url: URL) throws -> (frames: [GreyImage], delayCentiseconds: [Int]) {
        let source = ByteSource(bytes: [UInt8](try Data(contentsOf: url)))
        return try withExtendedLifetime(source) {
            var openError: Int32 = 0
            guard let gif = DGifOpen(Unmanaged.passUnretained(source).toOpaque(), { file, buffer, count in
                let source = Unmanaged<ByteSource>.fromOpaque(file!.pointee.UserData).takeUnretainedValue()
                let n = min(Int(count), source.bytes.count - source.position)
                source.bytes.withUnsafeBufferPointer {
                    buffer!.update(from: $0.baseAddress! + source.position, count: n)
                }
                source.position += n
                return Int32(n)
            }, &openError) else {
                throw ReadFailed(url, "cannot open GIF: \(describe(openError))")
            }
            defer { DGifCloseFile(gif, nil) }
            guard DGifSlurp(gif) == GIF_OK else { throw ReadFailed(url, "damaged GIF: \(describe(gif.pointee.Error))") }
            return try decodeFrames(of: gif, from: url)
        }
    }

    private static func decodeFrames(of gif: UnsafeMutablePointer<GifFileType>, from url: URL) throws
        -> (frames: [GreyImage], delayCentiseconds: [Int]) {
        let (width, height) = (Int(gif.pointee.SWidth), Int(gif.pointee.SHeight))
        var frames: [GreyImage] = []
        var delays: [Int] = []
        for index in 0..<Int(gif.pointee.ImageCount) {
            let saved = gif.pointee.SavedImages[index]
            let place = saved.ImageDesc
            guard place.Left == 0, place.Top == 0, Int(place.Width) == width, Int(place.Height) == height else {
                throw ReadFailed(url, "frame \(index + 1) does not cover the \(width)x\(height) screen")
            }
            guard let map = (place.ColorMap ?? gif.pointee.SColorMap)?.pointee else {
                throw ReadFailed(url, "frame \(index + 1) has no colour map")
            }
            var control = GraphicsControlBlock(DisposalMode: DISPOSAL_UNSPECIFIED, UserInputFlag: false,
                                               DelayTime: 0, TransparentColor: NO_TRANSPARENT_COLOR)
            _ = DGifSavedExtensionToGCB(gif, Int32(index), &control)
            let greys = (0..<Int(map.ColorCount)).map { luma(map.Colors[$0]) }
            let raster = UnsafeBufferPointer(start: saved.RasterBits, count: width * height)
            var pixels = [Float](repeating: 0, count: width * height)
            for (i, colourIndex) in raster.enumerated() {
                guard Int(colourIndex) != Int(control.TransparentColor), Int(colourIndex) < greys.count else {
                    throw ReadFailed(url, "frame \(index + 1) has a transparent or unknown colour \(colourIndex)")
                }
                pixels[i] = greys[Int(colourIndex)]
            }
            frames.append(GreyImage(width: width, height: height, pixels: pixels))
            delays.append(Int(control.DelayTime))
        }
        return (frames, delays)
    }

    /// ITU-R 601-2 luma in PIL's 16-bit fixed point.
    private static func luma(_ colour: GifColorType) -> Float {
        let sum = 19595 * UInt32(colour.Red) + 38470 * UInt32(colour.Green) + 7471 * UInt32(colour.Blue)
        return Float((sum + 0x8000) >> 16) / 255
    }

    private static func describe(_ code: Int32) -> String {
        GifErrorString(code).map { String(cString: $0) } ?? "giflib error \(code)"
    }
}

/// Feeds giflib's decoder from memory.
private final class ByteSource {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }
}
